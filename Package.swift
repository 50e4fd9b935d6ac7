// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "keycloak-fcgi",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "keycloak-fcgi", targets: ["FCGIApp"]),
        .library(name: "Auth", targets: ["Auth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
    ],
    targets: [
        // C at the edges: module maps and typed wrappers for what Swift cannot import.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Token verification and the identity-provider client. Knows nothing of FastCGI.
        .target(
            name: "Auth",
            dependencies: [
                "CCurl",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The process: configuration, accept loop, routing, handlers, responses.
        .executableTarget(
            name: "FCGIApp",
            dependencies: [
                "Auth",
                "CFastCGI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ]
        ),

        .testTarget(
            name: "AuthTests",
            dependencies: [
                "Auth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "FCGIAppTests",
            dependencies: [
                "FCGIApp",
                "Auth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
