/**
 * Rust symbol names for people, both manglings rustc has:
 * - legacy (Itanium-style `_ZN…E` paths with a trailing `17h<16 hex>` hash and `$LT$`-style
 *   escapes; rustc's default through 1.63 and later);
 * - v0 (`_R…`, RFC 2603 "Rust symbol name mangling v0": paths, generic arguments, impls, types,
 *   const generics, back-references).
 * By default hashes are left out (`core::fmt::write`, `mycrate::foo`); `{ hashes: true }` keeps the
 * legacy hash and the v0 crate disambiguators the way GNU c++filt prints them
 * (`core::fmt::write::h0123…`, `mycrate[3c1c0]::foo`). Anything else, or a name this cannot parse,
 * is returned as it is.
 */
const ESCAPES: Record<string, string> = { SP: '@', BP: '*', RF: '&', LT: '<', GT: '>', LP: '(', RP: ')', C: ',' };

export interface DemangleOptions {
  /** Keep the legacy `::h…` hash and v0 crate disambiguators (`crate[hex]`), as c++filt prints them. */
  hashes?: boolean;
}

export function demangle(symbol: string, options: DemangleOptions = {}): string {
  // LLVM's ".llvm.NNNN" suffix (a local symbol renamed by LTO or promotion) is not part of the name.
  const name = symbol.replace(/\.llvm\.[0-9A-Za-z_.@]*$/, '');
  if (/^_?_R[0-9A-Z]/.test(name)) {
    try {
      return new V0Printer(name.slice(name.indexOf('_R') + 2), !!options.hashes).symbol();
    } catch {
      return symbol;
    }
  }
  const legacy = /^_?_ZN(.*)E$/.exec(name);
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
  if (parts.length > 1 && /^h[0-9a-f]{16}$/.test(parts[parts.length - 1]) && !options.hashes) parts.pop();
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

class V0Error extends Error {}

const BASIC_TYPES: Record<string, string> = {
  a: 'i8', b: 'bool', c: 'char', d: 'f64', e: 'str', f: 'f32', h: 'u8', i: 'isize', j: 'usize', l: 'i32', m: 'u32', n: 'i128',
  o: 'u128', s: 'i16', t: 'u16', u: '()', v: '...', x: 'i64', y: 'u64', z: '!', p: '_',
};
const INTEGER_TYPES = new Set('hjmtyoasilxn');

/** A v0 mangled name, parsed and printed in one pass (RFC 2603's grammar; backrefs re-parse at their target). */
class V0Printer {
  private pos = 0;
  /** Lifetimes bound by enclosing `for<…>` binders. */
  private boundLifetimes = 0;
  private depth = 0;

  constructor(
    private readonly s: string,
    private readonly hashes: boolean,
  ) {}

  symbol(): string {
    // An optional encoding version (decimal) precedes the path.
    if (/[0-9]/.test(this.peek())) throw new V0Error('unknown encoding version');
    const out = this.path(true);
    // What follows (the instantiating crate, a vendor suffix) is not shown.
    return out;
  }

  private peek(): string {
    return this.s[this.pos] ?? '';
  }

  private next(): string {
    if (this.pos >= this.s.length) throw new V0Error('unexpected end');
    return this.s[this.pos++];
  }

  private eat(c: string): boolean {
    if (this.peek() !== c) return false;
    this.pos++;
    return true;
  }

  /** base-62-number: "_" is 0, "N_" is N + 1 (digits 0-9a-zA-Z); 64 bits wide (crate hashes). */
  private base62Big(): bigint {
    if (this.eat('_')) return 0n;
    let value = 0n;
    for (;;) {
      const c = this.next();
      if (c === '_') return value + 1n;
      const d = /[0-9]/.test(c) ? c.charCodeAt(0) - 48 : /[a-z]/.test(c) ? c.charCodeAt(0) - 87 : /[A-Z]/.test(c) ? c.charCodeAt(0) - 29 : -1;
      if (d < 0) throw new V0Error(`bad base-62 digit ${c}`);
      value = (value * 62n + BigInt(d)) & 0xffffffffffffffffn;
    }
  }

  private base62(): number {
    const v = this.base62Big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new V0Error('number too large');
    return Number(v);
  }

  private disambiguator(): bigint {
    return this.eat('s') ? (this.base62Big() + 1n) & 0xffffffffffffffffn : 0n;
  }

  private decimal(): number {
    const m = /^(0|[1-9][0-9]*)/.exec(this.s.slice(this.pos));
    if (!m) throw new V0Error('expected a number');
    this.pos += m[1].length;
    return Number(m[1]);
  }

  private identifier(): { name: string; dis: bigint } {
    const dis = this.disambiguator();
    return { name: this.undisambiguated(), dis };
  }

  private undisambiguated(): string {
    if (this.eat('u')) throw new V0Error('punycode identifiers are not decoded');
    const n = this.decimal();
    this.eat('_');
    if (this.pos + n > this.s.length) throw new V0Error('identifier runs past the end');
    const name = this.s.slice(this.pos, this.pos + n);
    this.pos += n;
    return name;
  }

  /** Parses at a back-reference's target and comes back. */
  private backref<T>(parse: () => T): T {
    const target = this.base62();
    if (target >= this.pos - 1) throw new V0Error('back-reference does not point back');
    const saved = this.pos;
    if (++this.depth > 100) throw new V0Error('too deep');
    this.pos = target;
    try {
      return parse();
    } finally {
      this.pos = saved;
      this.depth--;
    }
  }

  private path(inValue: boolean): string {
    if (++this.depth > 200) throw new V0Error('too deep');
    try {
      const tag = this.next();
      switch (tag) {
        case 'C': {
          const { name, dis } = this.identifier();
          return this.hashes ? `${name}[${dis.toString(16)}]` : name;
        }
        case 'M': {
          this.implPath();
          return `<${this.type()}>`;
        }
        case 'X': {
          this.implPath();
          const self = this.type();
          return `<${self} as ${this.path(false)}>`;
        }
        case 'Y': {
          const self = this.type();
          return `<${self} as ${this.path(false)}>`;
        }
        case 'N': {
          const ns = this.next();
          const prefix = this.path(inValue);
          const { name, dis } = this.identifier();
          if (/[A-Z]/.test(ns)) {
            const kind = ns === 'C' ? 'closure' : ns === 'S' ? 'shim' : ns;
            return `${prefix}::{${kind}${name ? `:${name}` : ''}#${dis}}`;
          }
          return name ? `${prefix}::${name}` : prefix;
        }
        case 'I': {
          const prefix = this.path(inValue);
          const args: string[] = [];
          while (!this.eat('E')) args.push(this.genericArg());
          return `${prefix}${inValue ? '::' : ''}<${args.join(', ')}>`;
        }
        case 'B':
          return this.backref(() => this.path(inValue));
        default:
          throw new V0Error(`unknown path tag ${tag}`);
      }
    } finally {
      this.depth--;
    }
  }

  /** An impl's path: parsed (it says where the impl is), not printed. */
  private implPath(): void {
    this.disambiguator();
    this.path(false);
  }

  private genericArg(): string {
    if (this.eat('L')) return this.lifetime(this.base62());
    if (this.eat('K')) return this.constant();
    return this.type();
  }

  private lifetime(index: number): string {
    if (index === 0) return "'_";
    const depth = this.boundLifetimes - index;
    if (depth < 0) throw new V0Error('lifetime out of range');
    return depth < 26 ? `'${String.fromCharCode(97 + depth)}` : `'_${depth}`;
  }

  private binder(): string {
    if (!this.eat('G')) return '';
    const count = this.base62() + 1;
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      this.boundLifetimes++;
      names.push(this.lifetime(1));
    }
    return `for<${names.join(', ')}> `;
  }

  private type(): string {
    if (++this.depth > 200) throw new V0Error('too deep');
    const mark = this.boundLifetimes;
    try {
      const tag = this.next();
      if (BASIC_TYPES[tag]) return BASIC_TYPES[tag];
      switch (tag) {
        case 'R':
        case 'Q': {
          let out = tag === 'R' ? '&' : '&mut ';
          if (this.eat('L')) {
            const l = this.base62();
            if (l !== 0) out = tag === 'R' ? `&${this.lifetime(l)} ` : `&${this.lifetime(l)} mut `;
          }
          return out + this.type();
        }
        case 'P':
          return `*const ${this.type()}`;
        case 'O':
          return `*mut ${this.type()}`;
        case 'A': {
          const t = this.type();
          return `[${t}; ${this.constant()}]`;
        }
        case 'S':
          return `[${this.type()}]`;
        case 'T': {
          const items: string[] = [];
          while (!this.eat('E')) items.push(this.type());
          return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
        }
        case 'F': {
          let out = this.binder();
          if (this.eat('U')) out += 'unsafe ';
          if (this.eat('K')) out += `extern "${this.eat('C') ? 'C' : this.undisambiguated().replace(/_/g, '-')}" `;
          const args: string[] = [];
          while (!this.eat('E')) args.push(this.type());
          const ret = this.type();
          return `${out}fn(${args.join(', ')})${ret === '()' ? '' : ` -> ${ret}`}`;
        }
        case 'D': {
          const binder = this.binder();
          const traits: string[] = [];
          while (!this.eat('E')) traits.push(this.dynTrait());
          let out = `dyn ${binder}${traits.join(' + ')}`;
          if (!this.eat('L')) throw new V0Error('dyn without a lifetime');
          const l = this.base62();
          if (l !== 0) out += ` + ${this.lifetime(l)}`;
          return out;
        }
        case 'B':
          return this.backref(() => this.type());
        default:
          this.pos--;
          return this.path(false);
      }
    } finally {
      this.boundLifetimes = mark;
      this.depth--;
    }
  }

  /** A trait in `dyn`, with its associated type bindings merged into its generic arguments. */
  private dynTrait(): string {
    let path = this.path(false);
    const bindings: string[] = [];
    while (this.eat('p')) {
      const name = this.undisambiguated();
      bindings.push(`${name} = ${this.type()}`);
    }
    if (!bindings.length) return path;
    if (path.endsWith('>')) path = `${path.slice(0, -1)}, ${bindings.join(', ')}>`;
    else path = `${path}<${bindings.join(', ')}>`;
    return path;
  }

  private constant(): string {
    if (this.eat('B')) return this.backref(() => this.constant());
    const tag = this.next();
    if (tag === 'p') return '_';
    const type = BASIC_TYPES[tag];
    if (!type) throw new V0Error(`constants of type ${tag} are not decoded`);
    const negative = this.eat('n');
    const start = this.pos;
    while (/[0-9a-f]/.test(this.peek())) this.pos++;
    const hex = this.s.slice(start, this.pos);
    if (!this.eat('_')) throw new V0Error('constant without its end');
    const value = hex ? BigInt(`0x${hex}`) : 0n;
    let text: string;
    if (INTEGER_TYPES.has(tag)) text = `${negative ? '-' : ''}${value}`;
    else if (tag === 'b') text = value === 0n ? 'false' : value === 1n ? 'true' : (() => { throw new V0Error('bad bool'); })();
    else if (tag === 'c') text = `'${escapeChar(Number(value))}'`;
    else throw new V0Error(`constants of type ${type} are not decoded`);
    return `${text}: ${type}`;
  }
}

function escapeChar(code: number): string {
  const c = String.fromCodePoint(code);
  const named: Record<string, string> = { '\t': '\\t', '\r': '\\r', '\n': '\\n', "'": "\\'", '\\': '\\\\' };
  if (named[c]) return named[c];
  return code < 0x20 || code === 0x7f ? `\\u{${code.toString(16)}}` : c;
}
