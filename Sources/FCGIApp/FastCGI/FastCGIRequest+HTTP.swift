/// Reading the FastCGI parameters into an `HTTPRequest` and writing an `HTTPResponse` as a
/// CGI response (RFC 3875 §6).
extension FastCGIRequest: RequestParameters {
    /// The outcome of reading a request: the request, or the body was over the limit.
    enum Incoming {
        case request(HTTPRequest)
        case bodyTooLarge
    }

    /// Reads the parameters this service uses and the body up to `maximumBodyBytes`.
    func readHTTPRequest(maximumBodyBytes: Int) -> Incoming {
        let method = (parameter("REQUEST_METHOD") ?? "GET").uppercased()
        let path = parameter("DOCUMENT_URI") ?? Self.path(ofRequestURI: parameter("REQUEST_URI"))
        let contentLength = parameter("CONTENT_LENGTH").flatMap { Int($0) }
        let body: [UInt8]
        if let contentLength {
            guard contentLength <= maximumBodyBytes else {
                // Drain a little so nginx is not answered mid-upload; a huge body is cut off.
                discardBody(upTo: min(contentLength, 1 << 20))
                return .bodyTooLarge
            }
            body = readBody(upTo: contentLength)
        } else {
            body = readBody(upTo: maximumBodyBytes + 1)
            guard body.count <= maximumBodyBytes else {
                discardBody(upTo: 1 << 20)
                return .bodyTooLarge
            }
        }
        return .request(
            HTTPRequest(
                method: method, path: path, contentType: parameter("CONTENT_TYPE"), authorization: parameter("HTTP_AUTHORIZATION"),
                body: body, isInternal: parameter("KEYCLOAK_FCGI_INTERNAL") == "1", parameters: self))
    }

    /// nginx's `$request_id` when it passes one (32 hex digits); anything odd is ignored.
    var requestID: String? {
        guard let value = parameter("REQUEST_ID"), (1...64).contains(value.utf8.count),
            value.utf8.allSatisfy({
                $0 == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
            })
        else { return nil }
        return value
    }

    /// Writes the status line, headers (with `Content-Length`) and body.
    @discardableResult
    func write(_ response: HTTPResponse, extraHeaders: [(name: String, value: String)]) -> Bool {
        var head = "Status: \(response.status.code) \(response.status.reason)\r\n"
        for header in response.headers + extraHeaders {
            head += "\(header.name): \(header.value)\r\n"
        }
        head += "Content-Length: \(response.body.count)\r\n\r\n"
        return write(Array(head.utf8) + response.body)
    }

    private static func path(ofRequestURI uri: String?) -> String {
        guard let uri else { return "/" }
        return String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "/")
    }
}
