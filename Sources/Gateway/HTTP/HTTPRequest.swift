/// One request as the router sees it: plain values, no FastCGI types.
package struct HTTPRequest {
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
    /// Looks up any other FastCGI parameter nginx set (read on demand: most requests need none).
    private let lookup: (String) -> String?

    /// A request with `parameters` standing for the other FastCGI parameters (tests, fuzzing).
    package init(
        method: String, path: String, contentType: String? = nil, authorization: String? = nil, body: [UInt8] = [],
        isInternal: Bool = false, parameters: [String: String] = [:]
    ) {
        self.init(
            method: method, path: path, contentType: contentType, authorization: authorization, body: body, isInternal: isInternal,
            lookup: { parameters[$0] })
    }

    init(
        method: String, path: String, contentType: String?, authorization: String?, body: [UInt8], isInternal: Bool,
        lookup: @escaping (String) -> String?
    ) {
        self.method = method
        self.path = path
        self.contentType = contentType
        self.authorization = authorization
        self.body = body
        self.isInternal = isInternal
        self.lookup = lookup
    }

    /// A FastCGI parameter nginx set for this location, e.g. `/auth`'s per-location
    /// `AUTH_REQUIRED_ROLES` (clients can only set `HTTP_*` parameters, so they cannot forge it).
    func parameter(_ name: String) -> String? {
        lookup(name)
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
