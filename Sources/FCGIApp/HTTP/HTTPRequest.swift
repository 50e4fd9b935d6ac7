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
    /// Any other FastCGI parameter nginx set, read on demand (most requests need none). A class
    /// reference, not a closure: a closure capturing the FastCGI request would be a heap
    /// allocation on every request.
    private let parameters: any RequestParameters

    /// A request with `parameters` standing for the other FastCGI parameters (tests, fuzzing).
    package init(
        method: String, path: String, contentType: String? = nil, authorization: String? = nil, body: [UInt8] = [],
        isInternal: Bool = false, parameters: [String: String] = [:]
    ) {
        self.init(
            method: method, path: path, contentType: contentType, authorization: authorization, body: body, isInternal: isInternal,
            parameters: FixedParameters(parameters))
    }

    init(
        method: String, path: String, contentType: String?, authorization: String?, body: [UInt8], isInternal: Bool,
        parameters: any RequestParameters
    ) {
        self.method = method
        self.path = path
        self.contentType = contentType
        self.authorization = authorization
        self.body = body
        self.isInternal = isInternal
        self.parameters = parameters
    }

    /// A FastCGI parameter nginx set for this location, e.g. `/auth`'s per-location
    /// `AUTH_REQUIRED_ROLES` (clients can only set `HTTP_*` parameters, so they cannot forge it).
    func parameter(_ name: String) -> String? {
        parameters.parameter(name)
    }

    /// How many times the parameter `name` was passed.
    func parameterCount(_ name: String) -> Int {
        parameters.parameterCount(name)
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

/// Where a request's other parameters come from: the FastCGI request while it is being served.
protocol RequestParameters: AnyObject {
    func parameter(_ name: String) -> String?
    /// How many times nginx passed `name` (a request header sent twice arrives twice with
    /// nginx 1.22; later versions join the values with `, `).
    func parameterCount(_ name: String) -> Int
}

extension RequestParameters {
    func parameterCount(_ name: String) -> Int {
        parameter(name) == nil ? 0 : 1
    }
}

/// Parameters given as values (tests, fuzzing).
private final class FixedParameters: RequestParameters {
    let values: [String: String]
    init(_ values: [String: String]) { self.values = values }
    func parameter(_ name: String) -> String? { values[name] }
}
