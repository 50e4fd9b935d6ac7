import Logging

/// swift-log to stderr, one line per event, at the configured level and format.
enum LogSetup {
    static func bootstrap(level: Logger.Level, format: AppConfiguration.LogFormat) {
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
    }
}
