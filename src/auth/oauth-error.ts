/** An RFC 6749 §5.2 error of the token endpoint. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(
    readonly error:
      | 'invalid_request'
      | 'invalid_client'
      | 'invalid_grant'
      | 'unauthorized_client'
      | 'unsupported_grant_type'
      | 'invalid_scope',
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }

  get body() {
    return { error: this.error, error_description: this.description };
  }
}
