import Auth

/// Everything a handler can fail with. `HTTPResponse(error:)` is the one place these become
/// statuses and bodies.
package enum HandlerError: Error, Sendable {
    /// Token, credentials or identity-provider failures.
    case auth(AuthError)
    /// An authentication failure at a resource (`/protected`, `/auth`), answered with the
    /// challenge `challenge` describes (scheme, `algs`, `resource_metadata`, a fresh nonce).
    case challenged(AuthError, Challenge)
    /// Required form fields absent or empty (FastAPI's 422 shape), by field name.
    case missingFields([String])
    /// A body that cannot be parsed as the form it claims to be.
    case malformedBody
    /// No route for the path.
    case notFound
    /// The path exists, the method does not.
    case methodNotAllowed(allowed: [String])
    /// The body exceeds the configured limit.
    case bodyTooLarge(limit: Int)
}
