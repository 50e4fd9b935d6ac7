/// The production `HTTPTransport`: libcurl, one easy handle per instance (per thread).
public final class CurlTransport: HTTPTransport {
    private let handle: CurlEasyHandle
    private let limits: HTTPClientLimits

    /// Creates the thread's handle. `Curl.initialize()` must have run first.
    public init(limits: HTTPClientLimits) throws(AuthError) {
        self.handle = try CurlEasyHandle()
        self.limits = limits
    }

    public func send(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse {
        try handle.perform(request, limits: limits, endpoint: request.endpoint)
    }
}
