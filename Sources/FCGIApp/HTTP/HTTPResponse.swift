import Logging

/// One response: status, headers and a body, written by the FastCGI layer as a CGI response.
struct HTTPResponse: Sendable {
    var status: HTTPStatus
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// What the request log line should add (error code and context, the subject); never
    /// written to the client.
    var logMetadata: Logger.Metadata = [:]

    init(status: HTTPStatus, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A compact UTF-8 JSON response (`Content-Type: application/json`), keys in the order given.
    static func json(_ value: JSONValue, status: HTTPStatus = .ok, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: value.serialized)
    }

    /// `{"detail": message}`, FastAPI's error shape.
    static func detail(_ message: String, status: HTTPStatus, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        .json(.object([("detail", .string(message))]), status: status, headers: headers)
    }

    /// The value of the first header with this name (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A status code with its reason phrase (RFC 9110 §15).
struct HTTPStatus: Sendable, Equatable {
    let code: Int
    let reason: String

    static let ok = HTTPStatus(code: 200, reason: "OK")
    static let noContent = HTTPStatus(code: 204, reason: "No Content")
    static let found = HTTPStatus(code: 302, reason: "Found")
    static let seeOther = HTTPStatus(code: 303, reason: "See Other")
    static let badRequest = HTTPStatus(code: 400, reason: "Bad Request")
    static let unauthorized = HTTPStatus(code: 401, reason: "Unauthorized")
    static let forbidden = HTTPStatus(code: 403, reason: "Forbidden")
    static let notFound = HTTPStatus(code: 404, reason: "Not Found")
    static let methodNotAllowed = HTTPStatus(code: 405, reason: "Method Not Allowed")
    static let contentTooLarge = HTTPStatus(code: 413, reason: "Content Too Large")
    static let unprocessableContent = HTTPStatus(code: 422, reason: "Unprocessable Entity")
    static let badGateway = HTTPStatus(code: 502, reason: "Bad Gateway")
    static let serviceUnavailable = HTTPStatus(code: 503, reason: "Service Unavailable")
}
