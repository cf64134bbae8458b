import Foundation

/// File writes that never leave a half-written file behind.
public enum AtomicFile {
    /// Writes `data` to a temporary file in the destination's directory, flushes it, and renames it
    /// over `path`, so that readers see either the old file or the complete new one.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw DataError(file: path, "cannot write: directory \(dir) does not exist")
        }
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw DataError(file: path, "cannot write: \(String(cString: strerror(errno)))")
        }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { ok = false; break }
                off += n
            }
        }
        let err = errno
        if ok && fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let message = String(cString: strerror(ok ? errno : err))
            unlink(tmp)
            throw DataError(file: path, "cannot write: \(message)")
        }
    }

    /// The whole file, or a `DataError` saying why it cannot be read.
    public static func read(_ path: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DataError(file: path, "no such file")
        }
        guard !isDir.boolValue else { throw DataError(file: path, "is a directory, not a file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read the file")
        }
        return data
    }
}
