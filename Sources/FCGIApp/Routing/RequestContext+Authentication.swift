import Auth

extension RequestContext {
    /// The user of the request's bearer token, held to `policy`: the one
    /// bearer → authenticate → (identity) → policy path that `/protected` and `/auth` share.
    ///
    /// - Parameter requiresIdentity: refuse a token that names nobody beyond `sub` (a
    ///   lightweight access token) with `noIdentityClaims`, for answers that show the user.
    func authenticatedUser(
        of request: HTTPRequest, with authenticator: any Authenticator, policy: AuthorizationPolicy, requiresIdentity: Bool = false
    ) throws(HandlerError) -> AuthenticatedUser {
        try HandlerError.authenticating { () throws(AuthError) in
            let token = try BearerCredentials.token(fromAuthorization: request.authorization)
            let user = try authenticator.authenticate(token, using: client, now: now)
            if requiresIdentity && !user.carriesIdentity {
                throw AuthError(.noIdentityClaims, AuthenticatedUser.lightweightHint)
            }
            try policy.check(user)
            return user
        }
    }
}

extension HandlerError {
    /// Runs `body`; its `AuthError` becomes `.auth` (mapped to a status by `HTTPResponse(error:)`).
    static func authenticating<Value>(_ body: () throws(AuthError) -> Value) throws(HandlerError) -> Value {
        do {
            return try body()
        } catch {
            throw .auth(error)
        }
    }
}

extension HTTPResponse {
    /// Names the user in the request's log line (`auth.sub`), when the token has a subject.
    mutating func logSubject(of user: AuthenticatedUser) {
        if let subject = user.subject {
            logMetadata["auth.sub"] = "\(subject)"
        }
    }
}
