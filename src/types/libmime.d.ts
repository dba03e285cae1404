// The part of libmime Sesame uses (the package ships no types).
declare module 'libmime' {
  /** Decodes the RFC 2047 encoded words in a header value (any charset iconv-lite knows). */
  export function decodeWords(value: string): string;
}
