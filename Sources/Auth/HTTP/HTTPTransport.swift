/// An outgoing HTTP request to the identity provider.
public struct OutgoingRequest: Sendable, Equatable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }

    public var method: Method
    public var url: String
    /// Which provider call this is (`discovery`, `certs`, `token`, `userinfo`, `introspect`,
    /// `logout`): the one name metrics, logs and errors use for it.
    public var endpoint: String
    /// Extra request headers, e.g. `Authorization` for userinfo. Never logged.
    public var headers: [(name: String, value: String)]
    /// A form-encoded body for POST.
    public var body: [UInt8]?

    public init(
        method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, endpoint: String = "provider"
    ) {
        self.method = method
        self.url = url
        self.endpoint = endpoint
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.method == rhs.method && lhs.url == rhs.url && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

/// The provider's answer: any HTTP status is a response, not an error.
public struct IncomingResponse: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]

    public init(status: Int, contentType: String? = nil, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// Sends one request and waits for the answer. One instance per worker thread: implementations
/// (a curl easy handle) are not shared between threads.
///
/// Throws `identityProviderUnavailable` when the provider cannot be reached or times out, and
/// `identityProviderInvalidResponse` when the answer exceeds the size cap.
public protocol HTTPTransport: AnyObject {
    func send(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse
}

/// Limits on every call to the provider.
public struct HTTPClientLimits: Sendable, Equatable {
    /// Time allowed to establish the connection (TCP and TLS).
    public var connectTimeout: Duration
    /// Time allowed for the whole exchange.
    public var totalTimeout: Duration
    /// Answers longer than this are refused as invalid.
    public var maximumResponseBytes: Int
    /// A PEM bundle of CAs to trust for an `https` provider instead of the system's.
    public var caFile: String?

    public init(
        connectTimeout: Duration = .seconds(3),
        totalTimeout: Duration = .seconds(10),
        maximumResponseBytes: Int = 1 << 20,
        caFile: String? = nil
    ) {
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maximumResponseBytes = maximumResponseBytes
        self.caFile = caFile
    }
}
