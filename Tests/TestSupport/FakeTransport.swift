import Auth
import Foundation

/// An `HTTPTransport` that records every request and answers from a closure: canned
/// responses, or a thrown `AuthError` for an unreachable provider.
public final class FakeTransport: HTTPTransport {
    public private(set) var requests: [OutgoingRequest] = []
    public var respond: (OutgoingRequest) throws(AuthError) -> IncomingResponse

    public init(respond: @escaping (OutgoingRequest) throws(AuthError) -> IncomingResponse) {
        self.respond = respond
    }

    /// Answers every request with the same response.
    public convenience init(_ response: IncomingResponse) {
        self.init { _ throws(AuthError) in response }
    }

    public func send(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse {
        requests.append(request)
        return try respond(request)
    }
}

extension IncomingResponse {
    public static func json(_ status: Int, _ text: String) -> IncomingResponse {
        IncomingResponse(status: status, contentType: "application/json", body: Array(text.utf8))
    }

    public static func html(_ status: Int, _ text: String = "<html><body>Oops</body></html>") -> IncomingResponse {
        IncomingResponse(status: status, contentType: "text/html", body: Array(text.utf8))
    }
}
