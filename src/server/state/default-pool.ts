// The pool mnat-server uses without --pool (documented in docs/server.md).
/**
 * The pool used without --pool: SSM group space for local mappings, sources
 * kept as they are (no address ownership needed by the ingress), IPv4 and IPv6.
 * 232.0.0.0/24 is reserved by RFC 4607 and excluded.
 */
export const DEFAULT_POOL = {
  'group-pool': {
    ranges: [
      {
        'group-range': '232.0.0.0/8',
        exclude: [{ 'groupex-range': '232.0.0.0/24' }],
        'source-range': 'keep',
        note: 'IPv4 SSM range (RFC 4607), minus the reserved 232.0.0.0/24',
      },
      { 'group-range': 'ff3e::/96', 'source-range': 'keep', note: 'IPv6 global-scope SSM, 32-bit group ids (RFC 4607, RFC 3306)' },
    ],
  },
};
