/**
 * busboy's own modules (CommonJS), used directly by the Inbound Parse reader: its Content-Type parser
 * (the one it reads the boundary with) and its multipart parser, without the urlencoded one that
 * busboy's entry point bundles too.
 */
declare module 'busboy/lib/utils.js' {
  export type ContentType = { type: string; subtype: string; params: Record<string, string> };
  export function parseContentType(value: string): ContentType | undefined;
  /** A string decoder busboy uses for a charset (undefined for one it does not know). */
  export type Decoder = (data: Buffer | string, hint: number) => string | undefined;
  export function getDecoder(charset: string): Decoder | undefined;
  export function parseDisposition(value: string, defDecoder: Decoder | undefined): { type: string; params: Record<string, string> } | undefined;
}

declare module 'busboy/lib/types/multipart.js' {
  import type { Busboy, Limits } from 'busboy';
  import type { ContentType } from 'busboy/lib/utils.js';
  /** What busboy's entry point passes to the parser it picks for a Content-Type. */
  export type MultipartConfig = {
    headers: Record<string, string>;
    conType: ContentType;
    limits?: Limits;
    defCharset?: string;
    defParamCharset?: string;
    preservePath?: boolean;
  };
  const Multipart: new (cfg: MultipartConfig) => Busboy;
  export default Multipart;
}
