/// One request as the router sees it: plain values, no FastCGI types.
package struct HTTPRequest: Sendable {
    /// `REQUEST_METHOD`, upper case.
    var method: String
    /// `DOCUMENT_URI`: the decoded, normalized path nginx matched, without the query.
    var path: String
    /// `CONTENT_TYPE`.
    var contentType: String?
    /// `HTTP_AUTHORIZATION`. Never logged.
    var authorization: String?
    /// The body, at most the configured limit.
    var body: [UInt8]
    /// Whether the request came through nginx's internal listener (`KEYCLOAK_FCGI_INTERNAL=1`),
    /// which alone may reach `/readyz` and `/metrics`.
    var isInternal: Bool
    /// nginx's per-location requirements for `/auth` (FastCGI params `AUTH_REQUIRED_ROLES`,
    /// `AUTH_REQUIRED_SCOPES`; clients cannot set FastCGI params, only `HTTP_*` headers).
    var requiredRoles: String?
    var requiredScopes: String?

    package init(
        method: String, path: String, contentType: String? = nil, authorization: String? = nil, body: [UInt8] = [],
        isInternal: Bool = false, requiredRoles: String? = nil, requiredScopes: String? = nil
    ) {
        self.method = method
        self.path = path
        self.contentType = contentType
        self.authorization = authorization
        self.body = body
        self.isInternal = isInternal
        self.requiredRoles = requiredRoles
        self.requiredScopes = requiredScopes
    }

    /// The media type of `contentType`, lower-cased, without parameters.
    var mediaType: String? {
        guard let contentType else { return nil }
        let type = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return type.trimming([" ", "\t"]).lowercased()
    }

    /// A parameter of `contentType` (e.g. `boundary`), unquoted.
    func contentTypeParameter(_ name: String) -> String? {
        guard let contentType else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimming([" ", "\t"]).lowercased() == name else { continue }
            var value = pair[1].trimming([" ", "\t"])
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            return value
        }
        return nil
    }
}
