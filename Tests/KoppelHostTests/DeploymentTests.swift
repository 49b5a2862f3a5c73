import Foundation
import KoppelHost
import XCTest

/// A deployment names the plugins it uses; the loader opens exactly those files.
final class DeploymentTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try TestSupport.makeTemporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Four plugins in one directory: the two examples and two of Koppel's own connectors.
    private func fourPlugins() throws -> String {
        let plugins = "\(directory)/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        _ = try TestSupport.buildCExample(into: plugins)
        _ = try TestSupport.buildSwiftExample(into: plugins)
        for name in ["WooCommerce", "ExactOnline"] {
            try FileManager.default.copyItem(atPath: "\(TestSupport.productsDirectory)/libKoppel\(name).so", toPath: "\(plugins)/libKoppel\(name).so")
        }
        return plugins
    }

    /// The plugin files below `directory` that this process has mapped.
    private func mappedFiles(under directory: String) throws -> Set<String> {
        // procfs reports a size of 0, so read until the end instead of trusting it.
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps"))
        defer { try? handle.close() }
        var bytes = Data()
        while let chunk = try handle.read(upToCount: 65536), !chunk.isEmpty { bytes += chunk }
        let maps = String(decoding: bytes, as: UTF8.self)
        return Set(maps.split(separator: "\n").compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init)
        }.filter { $0.hasPrefix(directory) })
    }

    func testDeploymentNamingTwoOfFourPluginsLoadsExactlyThoseTwo() throws {
        let plugins = try fourPlugins()
        XCTAssertEqual(PluginLoader(directories: [plugins]).candidates().count, 4)
        let file = "\(directory)/deploy.yaml"
        try """
            plugins:
              directories: [plugins]
              load:
                - woocommerce
                - example-c
            """.write(toFile: file, atomically: true, encoding: .utf8)

        let deployment = try Deployment.load(file: file)
        XCTAssertEqual(deployment.plugins.directories, [plugins])
        let loaded = try PluginLoader(directories: deployment.plugins.directories).load(named: deployment.plugins.load)
        XCTAssertEqual(loaded.map(\.name), ["woocommerce", "example-c"])
        XCTAssertEqual(try mappedFiles(under: plugins), ["\(plugins)/libKoppelWooCommerce.so", "\(plugins)/libexample-c.so"])

        // The CLI, given the same deployment, lists the same two.
        let list = try TestSupport.run(TestSupport.koppel, ["plugins", "list", "--config", file])
        XCTAssertEqual(list.status, 0, list.stderr)
        let names = list.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ").first.map(String.init) ?? "" }
        XCTAssertEqual(names, ["woocommerce", "example-c"])
    }

    func testDeploymentNamingAMissingPluginSaysWhereItLooked() throws {
        let plugins = try fourPlugins()
        XCTAssertThrowsError(try PluginLoader(directories: [plugins]).load(named: ["winstore"])) { error in
            XCTAssertEqual(error as? PluginLoadError, .pluginNotFound(name: "winstore", directories: [plugins]))
        }
    }

    func testDeploymentMistakesAreAllReportedWithFileLineAndKey() throws {
        let file = "\(directory)/deploy.yaml"
        try """
            plugins:
              directories:
                - /no/such/directory
              load: [woocommerce, woocommerce]
              autoload: true
            flowz: []
            """.write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Deployment.load(file: file)) { error in
            guard case .invalid(let issues) = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(issues.map(\.description), [
                "\(file):3: plugins.directories[0]: /no/such/directory is not a directory",
                "\(file):4: plugins.load[1]: plugin woocommerce is listed twice",
                "\(file):5: plugins.autoload: unknown key (known keys here: directories, load)",
                "\(file):6: flowz: unknown key (known keys here: alerts, connections, flows, plugins, server, state, vault)",
            ])
        }
    }

    func testYAMLSyntaxErrorNamesTheLine() throws {
        let file = "\(directory)/deploy.yaml"
        try "plugins:\n  load: [a, b\n  directories: []\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Deployment.load(file: file)) { error in
            guard case .invalid(let issues) = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(issues.count, 1)
            XCTAssertTrue(issues[0].description.hasPrefix("\(file):"), issues[0].description)
            XCTAssertNotNil(issues[0].line)
        }
    }
}
