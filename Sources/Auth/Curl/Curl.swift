import CCurl

/// Process-wide libcurl set-up and the one place curl's return codes become Swift errors.
public enum Curl {
    /// Initializes libcurl. Call once, on the main thread, before any worker thread starts
    /// (curl_global_init is not thread-safe).
    public static func initialize() throws(AuthError) {
        let code = kfc_curl_global_init_default()
        guard code == CURLE_OK else {
            throw AuthError(.identityProviderUnavailable, "curl_global_init failed: \(describe(code))")
        }
    }

    /// libcurl's version string, for the start-up log line.
    public static var version: String {
        String(cString: curl_version())
    }

    static func describe(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }

    /// Turns a failed `curl_easy_perform` into an `AuthError` naming the endpoint.
    static func error(for code: CURLcode, endpoint: String, responseTooLarge: Bool) -> AuthError {
        if responseTooLarge {
            return AuthError(.identityProviderInvalidResponse, "\(endpoint): response larger than the cap")
        }
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return AuthError(.identityProviderUnavailable, "\(endpoint): timed out")
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return AuthError(.identityProviderUnavailable, "\(endpoint): cannot connect (\(describe(code)))")
        case CURLE_FILESIZE_EXCEEDED:
            return AuthError(.identityProviderInvalidResponse, "\(endpoint): response larger than the cap")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return AuthError(.identityProviderRejectedClient, "\(endpoint): URL refused (\(describe(code)))")
        default:
            return AuthError(.identityProviderUnavailable, "\(endpoint): \(describe(code))")
        }
    }

    /// Checks a `curl_easy_setopt` result; a failure there is a programming error in the
    /// option table, not an input problem, but it is still reported as an error.
    static func check(_ code: CURLcode, _ what: StaticString) throws(AuthError) {
        guard code == CURLE_OK else {
            throw AuthError(.identityProviderUnavailable, "curl option \(what): \(describe(code))")
        }
    }
}
