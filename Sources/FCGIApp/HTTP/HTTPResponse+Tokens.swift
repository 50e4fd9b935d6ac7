import Auth

extension HTTPResponse {
    /// A token endpoint answer in the seed's shape: `access_token` and `token_type: "bearer"`
    /// first, then the extras Keycloak provides (absent ones left out), never cached
    /// (RFC 6749 §5.1). Used by `/login` and `/refresh`.
    static func tokens(_ tokens: TokenSet) -> HTTPResponse {
        // A DPoP-bound set says so (RFC 9449 §5.1); everything else keeps the seed's "bearer".
        let type: JSONValue = tokens.tokenType?.lowercased() == "dpop" ? "DPoP" : "bearer"
        var members: [(String, JSONValue)] = [("access_token", .string(tokens.accessToken)), ("token_type", type)]
        if let expiresIn = tokens.expiresIn { members.append(("expires_in", .integer(expiresIn))) }
        if let refreshToken = tokens.refreshToken { members.append(("refresh_token", .string(refreshToken))) }
        if let refreshExpiresIn = tokens.refreshExpiresIn { members.append(("refresh_expires_in", .integer(refreshExpiresIn))) }
        if let scope = tokens.scope { members.append(("scope", .string(scope))) }
        return .json(.object(members), headers: [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
    }
}
