// Which filesystem holds the pin root, from /proc/self/mountinfo as this
// machine, `ip netns exec` and a router show it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fsTypeAt } from '../../src/dataplane/bpffs.ts';

// This machine (not in mount order: the root mount comes after /proc and /sys).
const HOST = `21 26 0:20 / /proc rw,relatime - proc proc rw
22 26 0:21 / /sys rw,relatime - sysfs sysfs rw
23 26 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12335032k,nr_inodes=3083758,mode=755
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
44 22 0:39 / /sys/fs/bpf rw,relatime - bpf bpf rw
45 26 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard
`;
// Inside `ip netns exec`: a fresh sysfs for the namespace, nothing under it.
const NETNS_EXEC = `48 47 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
50 48 0:20 / /proc rw,relatime - proc proc rw
64 48 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12335032k
51 48 0:40 / /sys rw,relatime - sysfs mn-cpe1-abc rw
`;
// OpenWrt after /etc/init.d/boot (optional fields, a mount point with a space).
const OPENWRT = `13 1 0:12 / / ro,noatime master:1 - squashfs /dev/root ro
14 13 0:4 / /proc rw,nosuid,nodev,noexec,noatime shared:2 - proc proc rw
15 13 0:13 / /sys rw,nosuid,nodev,noexec,noatime shared:3 - sysfs sysfs rw
20 13 0:17 / /tmp rw,nosuid,nodev,noatime shared:8 - tmpfs tmpfs rw
24 15 0:21 / /sys/fs/bpf rw,nosuid,nodev,noexec,noatime shared:12 - bpf bpffs rw,mode=700
25 20 0:22 / /tmp/with\\040space rw - tmpfs tmpfs rw
`;

test('bpffs mounted at /sys/fs/bpf: the pin root below it is on bpf; elsewhere what holds it', () => {
  assert.equal(fsTypeAt(HOST, '/sys/fs/bpf/mnat'), 'bpf');
  assert.equal(fsTypeAt(HOST, '/sys/fs/bpf'), 'bpf');
  assert.equal(fsTypeAt(HOST, '/sys/fs/bpfx'), 'sysfs', 'a prefix of a name is not a parent');
  assert.equal(fsTypeAt(HOST, '/sys/fs/cgroup/unified/x'), 'cgroup2');
  assert.equal(fsTypeAt(HOST, '/run/mnat'), 'ext4');
  assert.equal(fsTypeAt(OPENWRT, '/sys/fs/bpf/mnat/default'), 'bpf');
  assert.equal(fsTypeAt(OPENWRT, '/tmp/mnat'), 'tmpfs');
});

test('ip netns exec: /sys/fs/bpf is sysfs (nothing mounted there)', () => {
  assert.equal(fsTypeAt(NETNS_EXEC, '/sys/fs/bpf/mnat'), 'sysfs');
});

test('mounted on top at one point: the later line wins', () => {
  const stacked = NETNS_EXEC + '52 51 0:41 / /sys/fs/bpf rw - bpf bpf rw\n53 52 0:42 / /sys/fs/bpf rw - tmpfs tmpfs rw\n';
  assert.equal(fsTypeAt(stacked, '/sys/fs/bpf/mnat'), 'tmpfs');
  assert.equal(fsTypeAt(NETNS_EXEC + '52 51 0:41 / /sys/fs/bpf rw - bpf bpf rw\n', '/sys/fs/bpf/mnat'), 'bpf');
});

test('no mountinfo (no /proc): unknown', () => {
  assert.equal(fsTypeAt('', '/sys/fs/bpf/mnat'), null);
});
