// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * MNAT translator: a clsact ingress program (direct action) that rewrites
 * source-specific multicast channels (S,G) -> (S',G') in the kernel.
 *
 * For a packet whose (family, source, group) is in mnat_rules it:
 *   - drops it when TTL / hop limit <= 1 (counted as "ttl"),
 *   - removes every VLAN tag (the translated packet is routed onto the output
 *     devices, so input tags must not leak there),
 *   - rewrites source and destination, fixes the IPv4 header checksum and the
 *     UDP checksum through the pseudo-header (a zero IPv4 UDP checksum stays
 *     zero; a result of zero is sent as 0xffff), decrements TTL / hop limit,
 *   - rewrites the Ethernet destination to the new group's MAC and the source
 *     to each output device's MAC,
 *   - clone-redirects to all outputs but the last and redirects to the last;
 *     with no outputs it hands the translated packet to the attached device's
 *     own receive path (TC_ACT_OK).
 *
 * Decisions (tested in test/dataplane/translator-prog-run.test.ts):
 *   - Only UDP is translated. A matching packet of another protocol passes
 *     untouched (counted "not-udp"): its checksum could cover the addresses in
 *     ways this program does not know, and SSM payloads are UDP.
 *   - Fragments are translated, all of them, so the datagram reassembles at
 *     the receiver: the UDP checksum lives in the first fragment only and is
 *     fixed there (it covers the whole datagram, so the pseudo-header delta is
 *     exact); later fragments only get their addresses (and IPv4 header
 *     checksum) changed. The protocol comes from the IPv4 header or the IPv6
 *     fragment header, so later fragments are recognised as UDP too.
 *   - IPv4 options are kept; the header length comes from ihl.
 *   - IPv6: hop-by-hop, destination-options and fragment headers are walked
 *     (up to 4 headers); a packet with a routing header (whose final
 *     destination would be the pseudo-header's), AH, ESP or a longer chain
 *     passes untouched (counted "ext-header").
 *   - A matching packet whose headers are truncated is dropped ("malformed").
 *   - Everything that does not match passes untouched (TC_ACT_OK).
 *
 * Map layouts are mirrored byte for byte by src/dataplane/bpf-map-codec.ts.
 * Compile: clang -O2 -g -target bpf -c mnat-translator.bpf.c (plain uapi
 * headers, no vmlinux.h, so the OpenWrt SDK builds it too).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MNAT_MAX_OUTPUTS 4
#define MNAT_MAX_RULES 4096
#define MNAT_MAX_ATTACH 16

/* mnat_value.flags */
#define MNAT_F_KEEP_TTL 0x01 /* do not decrement TTL / hop limit (not a routing hop) */

/* mnat_attach.flags: written by the loader, never read here (see count_event). */
#define MNAT_ATTACH_ADDED_QDISC 0x01

enum mnat_event {
	MNAT_EV_DROP_TTL = 0,
	MNAT_EV_DROP_MALFORMED,
	MNAT_EV_DROP_CHECKSUM,
	MNAT_EV_DROP_VLAN,
	MNAT_EV_DROP_CLONE,
	MNAT_EV_PASS_NOT_UDP,
	MNAT_EV_PASS_EXT_HEADER,
	MNAT_EV_MAX,
};

struct mnat_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u8 source[16]; /* IPv4: first 4 bytes, rest zero */
	__u8 group[16];
};

struct mnat_value {
	__u8 source[16];
	__u8 group[16];
	__u32 ifindex[MNAT_MAX_OUTPUTS];
	__u8 mac[MNAT_MAX_OUTPUTS][6]; /* source MAC to write per output */
	__u8 n_outputs;                /* 0: translate and pass on (TC_ACT_OK) */
	__u8 flags;
	__u8 pad[2];
};

struct mnat_counter {
	__u64 packets;
	__u64 bytes;
};

struct mnat_attach {
	__u32 ifindex;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* Not preallocated: an update then replaces the element and frees the old
	 * one after an RCU grace period, so a packet reading a rule while the agent
	 * rewrites it sees the old rule whole (a preallocated hash reuses the old
	 * element at once, and a reader could mix two rules). */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MNAT_MAX_RULES);
	__type(key, struct mnat_key);
	__type(value, struct mnat_value);
} mnat_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MNAT_MAX_RULES);
	__type(key, struct mnat_key);
	__type(value, struct mnat_counter);
} mnat_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MNAT_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mnat_events SEC(".maps");

/* Where the loader attached this instance, so a later run can clean up after a crash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MNAT_MAX_ATTACH);
	__type(key, __u32);
	__type(value, struct mnat_attach);
} mnat_attach SEC(".maps");

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct frag6 {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

struct opt6 {
	__u8 nexthdr;
	__u8 hdrlen;
};

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60

/*
 * Context loads as single instructions the compiler cannot rewrite: clang may
 * otherwise keep "skb + offsetof(data_end)" in a register and dereference that,
 * which the verifier rejects ("dereference of modified ctx ptr"), depending on
 * the clang version. Every skb field read goes through these.
 */
#define CTX_LOAD_PTR(skb, field)                                                        \
	({                                                                              \
		void *__p;                                                              \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                                   \
			     : "=r"(__p)                                                \
			     : "r"(skb), "i"(offsetof(struct __sk_buff, field)));       \
		__p;                                                                    \
	})
#define CTX_LOAD_U32(skb, field)                                                        \
	({                                                                              \
		__u64 __v;                                                              \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                                   \
			     : "=r"(__v)                                                \
			     : "r"(skb), "i"(offsetof(struct __sk_buff, field)));       \
		(__u32)__v;                                                             \
	})
#define PKT_DATA(skb) CTX_LOAD_PTR(skb, data)
#define PKT_END(skb) CTX_LOAD_PTR(skb, data_end)

/*
 * mnat_attach is the loader's bookkeeping and never read here, but the program
 * must reference it: when an agent dies in a private mount namespace (ip netns
 * exec) its pins go with it, and the filter it left attached keeps alive only
 * the maps its program uses. Through them (bpftool prog show: map_ids) the next
 * agent reads the dead owner's record (slot 15) and removes the filter. The
 * lookup sits in a branch that never runs: an array lookup below max_entries
 * does not fail.
 */
static __always_inline void count_event(__u32 event)
{
	__u64 *n = bpf_map_lookup_elem(&mnat_events, &event);
	if (n)
		*n += 1;
	else
		bpf_map_lookup_elem(&mnat_attach, &event);
}

static __always_inline int drop(__u32 event)
{
	count_event(event);
	return TC_ACT_SHOT;
}

static __always_inline int pass(__u32 event)
{
	count_event(event);
	return TC_ACT_OK;
}

/* One's-complement difference of `n` 32-bit words: what csum_diff(old, new) gives. */
static __always_inline __u32 csum_add32(__u32 sum, __u32 x)
{
	sum += x;
	return sum + (sum < x);
}

static __always_inline void count_packet(struct mnat_key *key, __u64 len)
{
	struct mnat_counter *c = bpf_map_lookup_elem(&mnat_counters, key);
	if (!c) {
		struct mnat_counter zero = {};
		bpf_map_update_elem(&mnat_counters, key, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&mnat_counters, key);
		if (!c)
			return;
	}
	c->packets += 1;
	c->bytes += len;
}

/* Makes the first `len` bytes linear; 0 when they are, -1 when the packet is shorter. */
static __always_inline int ensure_linear(struct __sk_buff *skb, __u32 len)
{
	if (PKT_DATA(skb) + len <= PKT_END(skb))
		return 0;
	if (len > CTX_LOAD_U32(skb, len) || bpf_skb_pull_data(skb, len) < 0)
		return -1;
	if (PKT_DATA(skb) + len > PKT_END(skb))
		return -1;
	return 0;
}

SEC("tc")
int mnat_translate(struct __sk_buff *skb)
{
	void *data = PKT_DATA(skb);
	void *data_end = PKT_END(skb);
	struct ethhdr *eth = data;
	struct mnat_key key = {};
	__u32 l3 = sizeof(struct ethhdr);
	__u32 tags = 0;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	if (!(eth->h_dest[0] & 1)) /* unicast: not ours, fast path */
		return TC_ACT_OK;
	proto = eth->h_proto;

	/* Up to two tags still in the frame (the kernel may hold one more in skb->vlan_tci). */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			struct vlan_tag *vt = data + l3;
			if ((void *)(vt + 1) > data_end)
				return TC_ACT_OK;
			proto = vt->encapsulated_proto;
			l3 += sizeof(struct vlan_tag);
			tags++;
		}
	}

	/* ---- classify: read-only until the rule matched ---- */
	__u32 l4 = 0;       /* offset of the UDP header, 0 when absent (later fragment) */
	__u32 ttl_off;      /* offset of TTL / hop limit */
	__u8 ttl;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		if ((ip->daddr & bpf_htonl(0xf0000000)) != bpf_htonl(0xe0000000))
			return TC_ACT_OK;
		key.family = 4;
		__builtin_memcpy(key.source, &ip->saddr, 4);
		__builtin_memcpy(key.group, &ip->daddr, 4);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_OK;
		if (ip6->daddr.s6_addr[0] != 0xff)
			return TC_ACT_OK;
		key.family = 6;
		__builtin_memcpy(key.source, &ip6->saddr, 16);
		__builtin_memcpy(key.group, &ip6->daddr, 16);
	} else {
		return TC_ACT_OK;
	}

	struct mnat_value *rule = bpf_map_lookup_elem(&mnat_rules, &key);
	if (!rule)
		return TC_ACT_OK;
	__u64 frame_len = CTX_LOAD_U32(skb, len);

	/* ---- validate the matching packet and find its UDP header ---- */
	if (key.family == 4) {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		__u32 ihl = ip->ihl * 4;
		if (ip->version != 4 || ihl < sizeof(struct iphdr))
			return drop(MNAT_EV_DROP_MALFORMED);
		if (ip->protocol != IPPROTO_UDP)
			return pass(MNAT_EV_PASS_NOT_UDP);
		ttl = ip->ttl;
		ttl_off = l3 + 8;
		if ((ip->frag_off & bpf_htons(0x1fff)) == 0) /* not a later fragment */
			l4 = l3 + ihl;
	} else {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_OK;
		__u8 next = ip6->nexthdr;
		__u32 off = l3 + sizeof(struct ipv6hdr);
		int first = 1;
		ttl = ip6->hop_limit;
		ttl_off = l3 + 7;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			if (next == NEXTHDR_HOP || next == NEXTHDR_DEST) {
				if (ensure_linear(skb, off + sizeof(struct opt6)) < 0)
					return drop(MNAT_EV_DROP_MALFORMED);
				data = PKT_DATA(skb);
				data_end = PKT_END(skb);
				struct opt6 *o = data + (off & 0xffff);
				if ((void *)(o + 1) > data_end)
					return drop(MNAT_EV_DROP_MALFORMED);
				next = o->nexthdr;
				off += (o->hdrlen + 1) * 8;
			} else if (next == NEXTHDR_FRAGMENT) {
				if (ensure_linear(skb, off + sizeof(struct frag6)) < 0)
					return drop(MNAT_EV_DROP_MALFORMED);
				data = PKT_DATA(skb);
				data_end = PKT_END(skb);
				struct frag6 *f = data + (off & 0xffff);
				if ((void *)(f + 1) > data_end)
					return drop(MNAT_EV_DROP_MALFORMED);
				next = f->nexthdr;
				off += sizeof(struct frag6);
				if (f->frag_off & bpf_htons(0xfff8)) {
					/* A later fragment carries only payload: headers after the
					 * fragment header (RFC 8200 4.5) were in the first one. */
					first = 0;
					break;
				}
			}
		}
		/* A later fragment of a datagram behind destination options: its first
		 * fragment showed whether UDP follows; translate it like the others. */
		if (!first && next == NEXTHDR_DEST)
			next = IPPROTO_UDP;
		if (next == NEXTHDR_HOP || next == NEXTHDR_DEST || next == NEXTHDR_FRAGMENT ||
		    next == NEXTHDR_ROUTING || next == IPPROTO_AH || next == IPPROTO_ESP)
			return pass(MNAT_EV_PASS_EXT_HEADER);
		if (next != IPPROTO_UDP)
			return pass(MNAT_EV_PASS_NOT_UDP);
		if (first)
			l4 = off;
	}

	if (!(rule->flags & MNAT_F_KEEP_TTL) && ttl <= 1)
		return drop(MNAT_EV_DROP_TTL);
	if (l4 && ensure_linear(skb, l4 + sizeof(struct udphdr)) < 0)
		return drop(MNAT_EV_DROP_MALFORMED);

	/* ---- rewrite ---- */
	/* Remove every tag: the one the kernel holds and those in the frame. Each
	 * pop removes exactly one (it moves the next in-frame tag into the skb). */
	__u32 pops = tags + (CTX_LOAD_U32(skb, vlan_present) ? 1 : 0);
	if (pops) {
#pragma unroll
		for (__u32 i = 0; i < 3; i++) {
			if (i < pops && bpf_skb_vlan_pop(skb) < 0)
				return drop(MNAT_EV_DROP_VLAN);
		}
		if (CTX_LOAD_U32(skb, vlan_present))
			return drop(MNAT_EV_DROP_VLAN);
		l4 = l4 ? l4 - l3 + sizeof(struct ethhdr) : 0;
		ttl_off = ttl_off - l3 + sizeof(struct ethhdr);
		l3 = sizeof(struct ethhdr);
	}

	/* Checksum deltas: sum(~old) + sum(new) over the changed 32-bit words. */
	__u32 addr_words = key.family == 4 ? 1 : 4;
	__u32 pseudo = 0;
	const __u32 *old_s = (const __u32 *)key.source, *old_g = (const __u32 *)key.group;
	const __u32 *new_s = (const __u32 *)rule->source, *new_g = (const __u32 *)rule->group;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i < addr_words) {
			pseudo = csum_add32(pseudo, ~old_s[i]);
			pseudo = csum_add32(pseudo, new_s[i]);
			pseudo = csum_add32(pseudo, ~old_g[i]);
			pseudo = csum_add32(pseudo, new_g[i]);
		}
	}
	__u8 new_ttl = (rule->flags & MNAT_F_KEEP_TTL) ? ttl : ttl - 1;

	if (l4) {
		if (bpf_l4_csum_replace(skb, l4 + offsetof(struct udphdr, check), 0, pseudo,
					BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0) < 0)
			return drop(MNAT_EV_DROP_CHECKSUM);
	}
	if (key.family == 6) {
		/* CHECKSUM_COMPLETE (some NICs): skb->csum covers the IPv6 header, whose address
		 * change the pseudo-header helper above subtracts instead of keeping (no L3
		 * checksum compensates it, unlike IPv4; newer kernels fix this only with
		 * BPF_F_IPV6). Adding the delta back is right on every kernel, with or without
		 * a UDP header; for other ip_summed states this is a no-op. The hop limit,
		 * the last byte of the header's second 32-bit word, changes the sum too. */
		__u32 l3sum = csum_add32(pseudo, ~bpf_htonl((__u32)ttl));
		bpf_csum_update(skb, csum_add32(l3sum, bpf_htonl((__u32)new_ttl)));
	}
	if (key.family == 4) {
		/* TTL shares a 16-bit word with the protocol: (ttl << 8 | proto). */
		__u32 l3sum = csum_add32(pseudo, ~bpf_htonl((__u32)ttl << 24));
		l3sum = csum_add32(l3sum, bpf_htonl((__u32)new_ttl << 24));
		if (bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check), 0, l3sum, 0) < 0)
			return drop(MNAT_EV_DROP_CHECKSUM);
	}

	data = PKT_DATA(skb);
	data_end = PKT_END(skb);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return drop(MNAT_EV_DROP_MALFORMED);
	if (key.family == 4) {
		struct iphdr *ip = data + sizeof(struct ethhdr);
		if ((void *)(ip + 1) > data_end)
			return drop(MNAT_EV_DROP_MALFORMED);
		__builtin_memcpy(&ip->saddr, rule->source, 4);
		__builtin_memcpy(&ip->daddr, rule->group, 4);
		ip->ttl = new_ttl;
		eth->h_dest[0] = 0x01;
		eth->h_dest[1] = 0x00;
		eth->h_dest[2] = 0x5e;
		eth->h_dest[3] = rule->group[1] & 0x7f;
		eth->h_dest[4] = rule->group[2];
		eth->h_dest[5] = rule->group[3];
	} else {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
		if ((void *)(ip6 + 1) > data_end)
			return drop(MNAT_EV_DROP_MALFORMED);
		__builtin_memcpy(&ip6->saddr, rule->source, 16);
		__builtin_memcpy(&ip6->daddr, rule->group, 16);
		ip6->hop_limit = new_ttl;
		eth->h_dest[0] = 0x33;
		eth->h_dest[1] = 0x33;
		eth->h_dest[2] = rule->group[12];
		eth->h_dest[3] = rule->group[13];
		eth->h_dest[4] = rule->group[14];
		eth->h_dest[5] = rule->group[15];
	}
	count_packet(&key, frame_len);

	/* ---- deliver ---- */
	__u32 n = rule->n_outputs;
	if (n == 0)
		return TC_ACT_OK;
	if (n > MNAT_MAX_OUTPUTS)
		n = MNAT_MAX_OUTPUTS;
#pragma unroll
	for (__u32 i = 0; i < MNAT_MAX_OUTPUTS - 1; i++) {
		if (i + 1 >= n)
			break;
		bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_source), rule->mac[i], ETH_ALEN, 0);
		if (bpf_clone_redirect(skb, rule->ifindex[i], 0) < 0)
			count_event(MNAT_EV_DROP_CLONE);
	}
	__u32 last = (n - 1) & (MNAT_MAX_OUTPUTS - 1);
	/* Clones invalidated the packet pointers: reload for a direct write (cheaper than a helper). */
	data = PKT_DATA(skb);
	data_end = PKT_END(skb);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return drop(MNAT_EV_DROP_MALFORMED);
	__builtin_memcpy(eth->h_source, rule->mac[last], ETH_ALEN);
	return bpf_redirect(rule->ifindex[last], 0);
}

char _license[] SEC("license") = "Dual MIT/GPL";
