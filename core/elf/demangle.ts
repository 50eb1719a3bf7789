/**
 * Rust symbol names for people: the legacy mangling (Itanium-style `_ZN…E` paths with a trailing
 * `17h<16 hex>` hash and `$LT$`-style escapes, as rustc 1.63 emits by default). Anything else is
 * returned as it is. (The v0 scheme, `_R…`, is not decoded yet.)
 */
const ESCAPES: Record<string, string> = { SP: '@', BP: '*', RF: '&', LT: '<', GT: '>', LP: '(', RP: ')', C: ',' };

export function demangle(symbol: string): string {
  const legacy = /^_?_ZN(.*)E$/.exec(symbol);
  if (!legacy) return symbol;
  const parts: string[] = [];
  let rest = legacy[1];
  while (rest.length) {
    const m = /^(\d+)/.exec(rest);
    if (!m) return symbol;
    const n = Number(m[1]);
    const start = m[1].length;
    if (start + n > rest.length) return symbol;
    parts.push(rest.slice(start, start + n));
    rest = rest.slice(start + n);
  }
  if (parts.length > 1 && /^h[0-9a-f]{16}$/.test(parts[parts.length - 1])) parts.pop();
  return parts.map(unescapePart).join('::');
}

function unescapePart(part: string): string {
  let s = part.startsWith('_$') ? part.slice(1) : part;
  s = s.replace(/\$([A-Z]+|u[0-9a-f]+)\$/g, (whole, code: string) => {
    if (code.startsWith('u')) return String.fromCodePoint(parseInt(code.slice(1), 16));
    return ESCAPES[code] ?? whole;
  });
  return s.replace(/\.\./g, '::');
}
