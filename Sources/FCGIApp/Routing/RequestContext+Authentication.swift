import Auth

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
