// swift-tools-version:6.2
// The libFuzzer driver: one binary, the target chosen by RELAYFUZZ_TARGET. Built apart from
// the main package (a normal build has no fuzzer runtime to link): see scripts/fuzz.
import PackageDescription

let package = Package(
    name: "relayfuzz",
    dependencies: [.package(name: "relayfleet", path: "../..")],
    targets: [
        .executableTarget(
            name: "relayfuzz",
            dependencies: [.product(name: "FuzzTargets", package: "relayfleet")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
)
