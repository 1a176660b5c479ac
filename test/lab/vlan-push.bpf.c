// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
// Lab helper: a tc egress program that tags every frame the way a NIC with VLAN
// offload hands them to the stack (the outer tag held in the skb, not the frame):
// 802.1Q VID 7, and with -DQINQ an outer 802.1ad VID 100 as well.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("tc")
int vlan_push(struct __sk_buff *skb)
{
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 7) < 0)
		return TC_ACT_SHOT;
#ifdef QINQ
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021AD), 100) < 0)
		return TC_ACT_SHOT;
#endif
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual MIT/GPL";
