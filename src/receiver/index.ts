// mnat/receiver: receive a global SSM channel through an MNAT network from an
// application (the draft's "bump in the host"). See README.md beside this file.
export { MnatReceiver, openReceiver, describeLocal } from './receiver.ts';
export type { ReceiverOptions, ReceiverEvents, MessageInfo, MappingInfo, ServerInfo } from './receiver.ts';
export { ReceiverConfigError } from './receiver-config.ts';
export { discoverMnatService, searchDomains, createNodeDnsLookup, type DnsOptions } from './node-dns.ts';
export { DiscoveryError, discoverMnat, orderSrv, parseTxt, parseResolvConf, type MnatService, type SrvRecord, type DnsSdLookup } from '../core/dns-sd.ts';
export type { Channel } from '../core/channel.ts';
export type { LocalMapping } from '../protocol/model.ts';
export type { WatcherStatus } from '../client/watcher-client.ts';
export type { Logger } from '../host/host.ts';
