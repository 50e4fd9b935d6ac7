import CCurl
import Platform

/// Owns one libcurl easy handle: created in `init`, cleaned up in `deinit`.
///
/// A handle is reused for every request of its thread, so the connection to the provider
/// (and its TLS session) stays open between calls. It is not `Sendable`: each worker thread
/// creates its own.
final class CurlEasyHandle {
    private let handle: UnsafeMutableRawPointer

    init() throws(AuthError) {
        guard let handle = curl_easy_init() else {
            throw AuthError(.identityProviderUnavailable, "curl_easy_init failed")
        }
        self.handle = handle
    }

    deinit {
        curl_easy_cleanup(handle)
    }

    /// Collects the response body up to a cap. Passed to curl's write callback through
    /// `Unmanaged`; it lives on the stack frame of `perform`, which outlives the transfer.
    private final class ResponseSink {
        let limit: Int
        var bytes: [UInt8] = []
        var overflowed = false

        init(limit: Int) {
            self.limit = limit
        }
    }

    /// Performs one request with the locked-down option set and returns status, content type
    /// and body. `endpoint` names the call in errors.
    func perform(_ request: OutgoingRequest, limits: HTTPClientLimits, endpoint: String) throws(AuthError) -> IncomingResponse {
        // Reset keeps the connection cache; every option is set afresh for each request.
        curl_easy_reset(handle)
        let sink = ResponseSink(limit: limits.maximumResponseBytes)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        try Curl.check(kfc_curl_setopt_string(handle, CURLOPT_URL, request.url), "URL")
        // Locked down: http/https only, no redirects, no signals, timeouts, peer verification.
        try Curl.check(kfc_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR")
        try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try Curl.check(
            kfc_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.timeoutMilliseconds(limits.connectTimeout)), "CONNECTTIMEOUT_MS")
        try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.timeoutMilliseconds(limits.totalTimeout)), "TIMEOUT_MS")
        try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1), "SSL_VERIFYPEER")
        try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2), "SSL_VERIFYHOST")
        try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1), "TCP_NODELAY")
        try Curl.check(
            kfc_curl_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits.maximumResponseBytes)), "MAXFILESIZE_LARGE")
        try Curl.check(kfc_curl_setopt_string(handle, CURLOPT_USERAGENT, "keycloak-fcgi"), "USERAGENT")
        if let caFile = limits.caFile {
            try Curl.check(kfc_curl_setopt_string(handle, CURLOPT_CAINFO, caFile), "CAINFO")
        }

        headerList = curl_slist_append(headerList, "Accept: application/json")
        // No "Expect: 100-continue" round trip for small POST bodies.
        headerList = curl_slist_append(headerList, "Expect:")
        for header in request.headers {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        try Curl.check(kfc_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList), "HTTPHEADER")

        switch request.method {
        case .get:
            try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_HTTPGET, 1), "HTTPGET")
        case .post:
            let body = request.body ?? []
            try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_POST, 1), "POST")
            // POSTFIELDSIZE first, then COPYPOSTFIELDS: curl copies the bytes, because the
            // Swift buffer does not outlive this call.
            try Curl.check(kfc_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count), "POSTFIELDSIZE")
            let code = body.withUnsafeBytes { buffer in
                if let base = buffer.baseAddress {
                    kfc_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
                } else {
                    kfc_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, "")
                }
            }
            try Curl.check(code, "COPYPOSTFIELDS")
        }

        try Curl.check(kfc_curl_setopt_write_callback(handle, Self.writeCallback), "WRITEFUNCTION")
        let result = withExtendedLifetime(sink) { () -> CURLcode in
            // The sink is retained by this frame for the whole transfer, so the unretained
            // pointer handed to curl stays valid until curl_easy_perform returns.
            let context = Unmanaged.passUnretained(sink).toOpaque()
            let code = kfc_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
            guard code == CURLE_OK else { return code }
            return curl_easy_perform(handle)
        }
        guard result == CURLE_OK else {
            throw Curl.error(for: result, endpoint: endpoint, responseTooLarge: sink.overflowed)
        }

        var status = 0
        _ = kfc_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var contentType: UnsafeMutablePointer<CChar>?
        _ = kfc_curl_getinfo_string(handle, CURLINFO_CONTENT_TYPE, &contentType)
        return IncomingResponse(status: status, contentType: contentType.map { String(cString: $0) }, body: sink.bytes)
    }

    /// curl's timeouts in whole milliseconds, at least 1 (0 would mean "no timeout").
    private static func timeoutMilliseconds(_ duration: Duration) -> Int {
        max(1, Int(duration.milliseconds))
    }

    private static let writeCallback: kfc_curl_write_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        guard sink.bytes.count + length <= sink.limit else {
            sink.overflowed = true
            return 0  // Makes curl abort the transfer with CURLE_WRITE_ERROR.
        }
        data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
        }
        return length
    }
}
