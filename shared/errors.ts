/**
 * Domain errors. They say what went wrong in the product's own words and know nothing of HTTP; the
 * one error middleware (`#shared/http/error-handler.middleware.ts`) maps them onto status codes.
 *
 * @example
 * ```ts
 * throw new ValidationError('Body is not valid JSON', { cause: err });
 * ```
 */
export class DomainError extends Error {
  /** Stable machine-readable code, exposed to clients for 4xx answers. */
  readonly code: string = 'domain_error';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DomainError';
  }
}

/** The request body or a parameter is malformed. */
export class ValidationError extends DomainError {
  override readonly code: string = 'bad_request';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ValidationError';
  }
}

/** No credentials were presented (missing Basic auth, missing bearer token). */
export class UnauthenticatedError extends DomainError {
  override readonly code: string = 'unauthenticated';
  /** The `WWW-Authenticate` challenge the 401 carries (RFC 7235), e.g. `Bearer`. */
  readonly challenge: string | undefined;
  constructor(message = 'Authentication required', options?: { cause?: unknown; challenge?: string }) {
    super(message, options);
    this.name = 'UnauthenticatedError';
    this.challenge = options?.challenge;
  }
}

/** Credentials or a signature were presented and are wrong, or the caller lacks the role. */
export class ForbiddenError extends DomainError {
  override readonly code: string = 'forbidden';
  constructor(message = 'Forbidden', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ForbiddenError';
  }
}

/** A signed webhook whose signature does not verify. */
export class SignatureError extends ForbiddenError {
  override readonly code: string = 'invalid_signature';
  constructor(message = 'Signature verification failed', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SignatureError';
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends DomainError {
  override readonly code: string = 'not_found';
  constructor(message = 'Not found', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NotFoundError';
  }
}

/** The body is larger than the product accepts. */
export class PayloadTooLargeError extends DomainError {
  override readonly code: string = 'payload_too_large';
  constructor(message = 'Payload too large', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PayloadTooLargeError';
  }
}

/** The media type is not the one the route takes. */
export class UnsupportedMediaTypeError extends DomainError {
  override readonly code: string = 'unsupported_media_type';
  constructor(message = 'Unsupported media type', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnsupportedMediaTypeError';
  }
}

/** The request conflicts with the current state. */
export class ConflictError extends DomainError {
  override readonly code: string = 'conflict';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

/**
 * The request is well-formed but cannot be carried out as asked (e.g. a required template variable is
 * missing, a placeholder is undeclared). `code` says which rule; the message names the culprit.
 */
export class UnprocessableError extends DomainError {
  override readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnprocessableError';
    this.code = code;
  }
}

/** A state conflict with a specific reason code (e.g. `not_approved`, `opted_out`, `hash_mismatch`). */
export class StateConflictError extends ConflictError {
  override readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateConflictError';
    this.code = code;
  }
}

/** A required setting is missing: a deployment fault, never the client's. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/**
 * A secret could not be read from Secrets Manager (unreachable, throttled, access denied): a fault on our
 * side, never the client's. Unlike {@link ConfigError} it may pass by itself.
 */
export class SecretUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretUnavailableError';
  }
}
