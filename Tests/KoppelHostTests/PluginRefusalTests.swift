import Foundation
import KoppelHost
import XCTest

/// Files the loader must refuse, each with one sentence naming the file and the reason,
/// and without taking the host down (these run inside the test process).
final class PluginRefusalTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try TestSupport.makeTemporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func refusal(_ path: String) -> PluginLoadError? {
        do {
            _ = try PluginLoader(directories: []).load(path: path)
            XCTFail("\(path) was loaded but should have been refused")
            return nil
        } catch {
            return error
        }
    }

    func testDifferentABIMajorIsRefusedNamingBothVersions() throws {
        let path = "\(directory)/libfuture.so"
        try TestSupport.compileSharedObject(source: TestSupport.fixture("wrong_abi.c"), to: path)
        let error = try XCTUnwrap(refusal(path))
        XCTAssertEqual(error, .abiMismatch(path: path, pluginMajor: PluginLoader.abiMajor + 1, pluginMinor: 3, hostMajor: PluginLoader.abiMajor, hostMinor: PluginLoader.abiMinor))
        XCTAssertEqual(error.description, "\(path): built for Koppel plugin ABI \(PluginLoader.abiMajor + 1).3, but this host speaks ABI \(PluginLoader.abiMajor).\(PluginLoader.abiMinor); rebuild it against the host's koppel_plugin.h")
    }

    func testFileThatIsNotASharedObjectIsRefused() throws {
        let text = "\(directory)/notes.so"
        try "just some text".write(toFile: text, atomically: true, encoding: .utf8)
        XCTAssertEqual(refusal(text), .notSharedObject(path: text, detail: "it does not start with the ELF magic bytes"))

        let executableSource = "\(directory)/main.c"
        try "int main(void) { return 0; }".write(toFile: executableSource, atomically: true, encoding: .utf8)
        let executable = "\(directory)/program.so"
        let build = try TestSupport.run("/usr/bin/env", ["cc", "-no-pie", "-o", executable, executableSource])
        XCTAssertEqual(build.status, 0, build.stderr)
        let error = try XCTUnwrap(refusal(executable))
        XCTAssertEqual(error, .notSharedObject(path: executable, detail: "it is an executable"))
        XCTAssertTrue(error.description.contains("not an ELF shared object"), error.description)
    }

    func testSharedObjectWithoutEntrySymbolIsRefused() throws {
        let path = "\(directory)/libnoentry.so"
        try TestSupport.compileSharedObject(source: TestSupport.fixture("no_entry.c"), to: path)
        let error = try XCTUnwrap(refusal(path))
        XCTAssertEqual(error, .missingEntrySymbol(path: path))
        XCTAssertEqual(error.description, "\(path): has no koppel_plugin_entry symbol; it is not a Koppel plugin (export it with C linkage)")
    }

    func testFileAndDirectoryWritableByGroupOrOthersAreRefused() throws {
        let path = try TestSupport.buildCExample(into: directory)
        XCTAssertNoThrow(try PluginLoader(directories: []).load(path: path))

        for mode: mode_t in [0o757, 0o775] {
            chmod(path, mode)
            XCTAssertEqual(refusal(path), .writableByOthers(path: path, directory: false), String(mode, radix: 8))
            XCTAssertTrue(refusal(path)?.description.contains("the file can be written by its group or by others") == true)
        }
        chmod(path, 0o755)

        for mode: mode_t in [0o777, 0o770] {
            chmod(directory, mode)
            XCTAssertEqual(refusal(path), .writableByOthers(path: path, directory: true), String(mode, radix: 8))
        }
        chmod(directory, 0o700)
        XCTAssertNoThrow(try PluginLoader(directories: []).load(path: path))
    }

    func testInvalidManifestIsRefusedWithItsJSONPath() throws {
        let path = "\(directory)/libbad-manifest.so"
        try TestSupport.compileSharedObject(source: TestSupport.fixture("bad_manifest.c"), to: path)
        let error = try XCTUnwrap(refusal(path))
        XCTAssertEqual(error, .invalidManifest(path: path, jsonPath: "$.streams.read[1].record", problem: "\"invoice\" is not one of any, customer, order, product, shipment, stock_level, supplier"))
    }

    func testMissingFileIsRefused() {
        XCTAssertEqual(refusal("\(directory)/nothing.so"), .notFound(path: "\(directory)/nothing.so"))
    }
}
