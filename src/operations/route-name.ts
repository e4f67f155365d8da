// Low-cardinality names for HTTP operations: the method and the path with its variable parts
// collapsed, so /orders/12345 and /orders/67890 are one operation "GET /orders/:id". Numbers,
// UUIDs, long hex strings and other id-like segments become :id; the query string is dropped;
// paths are cut after MAX_SEGMENTS segments.

const MAX_SEGMENTS = 6;
const MAX_SEGMENT_LENGTH = 64;
const NUMERIC = /^[0-9][0-9.,_-]*$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX_ID = /^(?=.*[0-9])[0-9a-f]{8,}$/i;
/** A token of letters and digits with at least 3 digits or 16 characters with a digit: an id, a hash or a slug with a number. */
const MIXED_ID = /^(?=(?:.*[0-9]){3})[A-Za-z0-9_~.-]+$|^(?=.*[0-9])[A-Za-z0-9_~.+=-]{16,}$/;
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export function collapsePath(url: string | undefined): string {
  if (typeof url !== 'string' || url.length === 0) return '/';
  let path = url;
  const q = path.search(/[?#]/);
  if (q >= 0) path = path.slice(0, q);
  // An absolute-form request target (a proxy request): keep the path only.
  if (!path.startsWith('/')) {
    const scheme = path.indexOf('://');
    if (scheme < 0) return '/:other';
    const slash = path.indexOf('/', scheme + 3);
    path = slash < 0 ? '/' : path.slice(slash);
  }
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    if (out.length >= MAX_SEGMENTS) {
      out.push('…');
      break;
    }
    out.push(collapseSegment(segments[i]!));
  }
  return '/' + out.join('/');
}

function collapseSegment(segment: string): string {
  if (segment.length === 0) return '';
  if (segment.length > MAX_SEGMENT_LENGTH) return ':id';
  if (NUMERIC.test(segment) || UUID.test(segment) || HEX_ID.test(segment) || MIXED_ID.test(segment)) return ':id';
  if (segment.includes('%')) return ':id'; // encoded text is almost always a value, not a route
  return segment;
}

/** Recent request targets and their names: most services see the same few paths again and again. */
const NAME_CACHE_SIZE = 1024;
const nameCache = new Map<string, string>();

/** "GET /orders/:id"; unknown methods count as one "OTHER" method so they cannot blow up names. */
export function httpOperationName(method: string | undefined, url: string | undefined): string {
  const m = typeof method === 'string' && KNOWN_METHODS.has(method) ? method : 'OTHER';
  const key = `${m} ${url ?? ''}`;
  const cached = nameCache.get(key);
  if (cached !== undefined) return cached;
  const name = `${m} ${collapsePath(url)}`;
  if (nameCache.size >= NAME_CACHE_SIZE) nameCache.clear();
  nameCache.set(key, name);
  return name;
}
