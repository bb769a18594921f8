#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the example plugins
and hand-written cases. Run it again after changing a case; the files it writes are committed.
Findings go to fuzz/regressions/<target>/ by hand, never here."""
import gzip
import io
import json
import os
import pathlib
import shutil
import tarfile

root = pathlib.Path(__file__).resolve().parent
repo = root.parent
examples = sorted((repo / "examples" / "plugins").iterdir())


def write(target, name, data):
    d = root / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


for target in ["manifest", "bundle", "url", "storage_query", "bridge", "api"]:
    shutil.rmtree(root / "corpus" / target, ignore_errors=True)

# ---- manifest: every example's manifest, an emdash-plugin.jsonc, and broken ones -------------
for ex in examples:
    if (ex / "manifest.json").exists():
        write("manifest", ex.name + ".json", (ex / "manifest.json").read_text())
write("manifest", "jsonc.jsonc", """// emdash-plugin.jsonc
{
  "slug": "seo", /* the id */ "version": "1.0.0",
  "capabilities": ["read:content", "network:fetch",],
  "allowedHosts": ["*.example.com", "api.example.org"],
  "storage": {"pages": {"indexes": ["path", ["path", "locale"]], "uniqueIndexes": ["path"]}},
  "hooks": [{"name": "content:beforeSave", "priority": 10, "timeout": 500, "exclusive": true,
             "dependencies": ["other"], "errorPolicy": "continue"}],
  "routes": [{"name": "sitemap", "public": true}, "admin"],
  "declaredAccess": {"content": {"read": true}, "network": {"fetch": {"allowedHosts": ["a.b"]}}},
}
""")
write("manifest", "bad-types.json", '{"id": 5, "version": [], "capabilities": "all", "storage": {"x": {"indexes": [[[]]]}}}')
write("manifest", "deep.json", "[" * 70 + "]" * 70)
write("manifest", "unknown-cap.json", '{"id":"a","version":"1","capabilities":["read:everything","network:fetch:any"],"hooks":["nope:x"],"routes":[{"name":""}]}')

# ---- bundle: mode byte 1 + a tar the target gzips; mode byte 0 + a .tar.gz as uploaded -------
def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.mtime = 0
            data = e.get("data", b"")
            info.type = e.get("type", tarfile.REGTYPE)
            if "link" in e:
                info.linkname = e["link"]
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def example_files(ex, prefix):
    return [{"name": prefix + f.name, "data": f.read_bytes()} for f in sorted(ex.iterdir())]


hello = repo / "examples" / "plugins" / "hello"
write("bundle", "hello.tar", b"\x01" + tar_bytes(example_files(hello, "package/")))
write("bundle", "hello-flat.tar", b"\x01" + tar_bytes(example_files(hello, "")))
write("bundle", "hello.tar.gz", b"\x00" + gzip.compress(tar_bytes(example_files(hello, "package/")), mtime=0))
manifest = (hello / "manifest.json").read_bytes()
module = (hello / "backend.js").read_bytes()
write("bundle", "dotdot.tar", b"\x01" + tar_bytes([{"name": "package/../../etc/manifest.json", "data": manifest},
                                                    {"name": "package/backend.js", "data": module}]))
write("bundle", "absolute.tar", b"\x01" + tar_bytes([{"name": "/tmp/manifest.json", "data": manifest},
                                                      {"name": "backend.js", "data": module}]))
write("bundle", "links.tar", b"\x01" + tar_bytes([
    {"name": "package/manifest.json", "type": tarfile.SYMTYPE, "link": "/etc/passwd"},
    {"name": "package/backend.js", "type": tarfile.LNKTYPE, "link": "package/manifest.json"},
    {"name": "package/dev", "type": tarfile.CHRTYPE},
    {"name": "package/fifo", "type": tarfile.FIFOTYPE}]))
write("bundle", "npm.tar", b"\x01" + tar_bytes([
    {"name": "package/package.json", "data": json.dumps({"name": "@x/p", "version": "1.0.0",
        "exports": {"./sandbox": {"workerd": "./dist/s.mjs", "default": ["./nope", "./dist/s.mjs"]}}}).encode()},
    {"name": "package/dist/manifest.json", "data": manifest},
    {"name": "package/dist/s.mjs", "data": module}]))
write("bundle", "bomb.tar.gz", b"\x00" + gzip.compress(tar_bytes([{"name": "package/backend.js", "data": b"\0" * (1 << 20)}]), mtime=0))

# ---- url: URL \n base \n addresses (17 bytes each) -----------------------------------------
def addr4(a, b, c, d):
    return bytes([0, a, b, c, d]) + bytes(12)


def addr6(hexstr):
    return bytes([1]) + bytes.fromhex(hexstr)


urls = [
    ("http://example.com/a/../b?x=1#f", "https://base.example/dir/", addr4(93, 184, 216, 34)),
    ("http://2130706433/", "http://a/", b""),
    ("http://0177.0.0.1:8080/", "", b""),
    ("http://0x7f.1/", "", b""),
    ("http://127.1./", "", b""),
    ("http://[::ffff:127.0.0.1]/", "", b""),
    ("http://[64:ff9b::a00:1]/", "", b""),
    ("http://[2002:7f00:1::]/", "", b""),
    ("https://user:pw@example.com/", "", b""),
    ("http://%6c%6f%63%61%6c%68%6f%73%74/", "", b""),
    ("http://foo.localhost/", "", b""),
    ("http://169.254.169.254/latest/meta-data", "", b""),
    ("http://metadata.google.internal/", "", addr4(169, 254, 169, 254)),
    ("http://rebind.example/", "", addr4(8, 8, 8, 8) + addr4(10, 0, 0, 1)),
    ("http://v6.example/", "", addr6("20010db8000000000000000000000001") + addr6("00000000000000000000000000000001")),
    ("//evil.example/x", "http://good.example/", addr4(1, 1, 1, 1)),
    ("../../x?y", "http://h.example/a/b/c", addr4(1, 1, 1, 1)),
    ("\\\\evil\\x", "https://h.example/", b""),
    ("http://1.2.3.4.5/", "", b""),
    ("http://0x100000000/", "", b""),
    ("ftp://example.com/", "", b""),
    ("http://[fe80::1%25eth0]/", "", b""),
    ("HTTP://EXAMPLE.COM:80/%2e%2E/", "", addr4(93, 184, 216, 34)),
    ("http://xn--nxasmq6b.example/", "", addr4(93, 184, 216, 34)),
    ("http://a.b.c.0x7f/", "", b""),
    ("http://1.2.3.09/", "", b""),
]
for i, (u, base, addrs) in enumerate(urls):
    write("url", f"u{i:02d}", u.encode() + b"\n" + base.encode() + b"\n" + addrs)

# ---- storage_query: storage/query params -----------------------------------------------------
queries = [
    {"collection": "events"},
    {"where": {"a": "x", "n": 5, "flag": True, "s": None}},
    {"where": {"a": {"in": ["x", 1, True, None]}, "n": {"in": [1, 2.5, -3]}}},
    {"where": {"a": {"startsWith": "50%_\\"}}, "orderBy": {"n": "desc", "a": "asc"}, "limit": 3},
    {"where": {"n": {"gt": 1, "lte": 9.5}, "a": {"gte": "m", "lt": None}}},
    {"orderBy": {"createdAt": "asc"}, "cursorJson": {"order": [None], "id": "01H"}},
    {"cursorJson": {"orderValue": "2026-01-01T00:00:00.000Z", "id": "x"}},
    {"orderBy": {"n": "desc", "a": "desc"}, "cursorJson": {"order": [3, "q"], "id": "z"}, "limit": 100.7},
    {"where": {"nope": 1}},
    {"where": {"1bad": 1}},
    {"orderBy": {"a": "sideways"}},
    {"where": {"a": {"in": []}}},
    {"where": {"a": {"regex": ".*"}}},
    {"where": [], "limit": "5"},
    {"cursor": "!!!not base64"},
]
for i, q in enumerate(queries):
    write("storage_query", f"q{i:02d}.json", json.dumps(q))

# ---- bridge: mode byte, method \n, body -----------------------------------------------------
calls = [
    (0, "kv/set", {"key": "k", "value": {"a": [1, 2]}}),
    (0, "kv/list", {"prefix": "k"}),
    (0, "storage/put", {"collection": "events", "id": "e1", "data": {"a": "x", "n": 1}}),
    (0, "storage/putMany", {"collection": "events", "items": [{"id": "e2", "data": {"a": "y"}}, {"id": 3}]}),
    (0, "storage/query", {"collection": "events", "where": {"a": {"in": ["x", "y"]}}, "orderBy": {"n": "desc"}}),
    (0, "storage/count", {"collection": "events", "where": {"n": {"gte": 0}}}),
    (0, "storage/getMany", {"collection": "items", "ids": ["a", "b"]}),
    (0, "content/create", {"collection": "posts", "data": {"title": "t", "slug": "s"}}),
    (0, "content/list", {"collection": "posts", "limit": 2, "cursor": "01J"}),
    (0, "content/updateMany", {"collection": "posts", "items": [{"id": "x", "data": {"title": "u"}}]}),
    (0, "media/list", {"mimeType": "image/", "limit": 0}),
    (0, "media/upload", {"filename": "../a.png", "contentType": "image/png", "bytes": "iVBORw0KGgo="}),
    (0, "taxonomy/terms", {"taxonomy": "category"}),
    (0, "users/getByEmail", {"email": "A@B.C"}),
    (0, "email/send", {"message": {"to": "a@b.c", "subject": "s", "text": "t"}}),
    (0, "http/fetch", {"url": "http://127.0.0.1/", "init": {"method": "POST", "headers": [["a", "b"]]}}),
    (0, "log", {"level": "warn", "msg": "m", "data": {"x": 1}}),
    (1, "content/get", {"collection": "posts", "id": "x"}),
    (1, "kv/get", {"key": "k"}),
    (0, "nope/method", {}),
]
for i, (mode, method, body) in enumerate(calls):
    write("bridge", f"c{i:02d}", bytes([mode]) + method.encode() + b"\n" + json.dumps(body).encode())
write("bridge", "forged", bytes([2]) + b"kv/get\nBearer eyJ4Ijo1fQ.AAAA\n{\"key\":\"k\"}")
write("bridge", "not-json", bytes([0]) + b"kv/set\n{\"key\": ")
write("bridge", "deep", bytes([0]) + b"kv/set\n" + b"[" * 4000)  # within -max_len=4096

# ---- api: method \n target \n headers \n\n body ---------------------------------------------
requests = [
    ("GET", "/healthz", [], ""),
    ("GET", "/metrics", [], ""),
    ("GET", "/v1/plugins", [], ""),
    ("GET", "/v1/plugins/hello", [], ""),
    ("DELETE", "/v1/plugins/hello?keepData=true", [], ""),
    ("POST", "/v1/plugins/hello/hooks/content:beforeSave", [("content-type", "application/json")], '{"event":{"content":{}}}'),
    ("POST", "/v1/plugins/hello/routes/a/b%2F..%2Fc?x=%00", [], '{"input":1}'),
    ("POST", "/v1/plugins", [("content-type", "application/gzip")], b"\x1f\x8b\x08\x00"),
    ("PUT", "/v1/plugins/hello", [("content-type", "application/gzip")], b"\x1f\x8b\x08\x00"),
    ("POST", "/v1/plugins/hello/enable", [], ""),
    ("POST", "/v1/hooks/content:afterSave", [], '{"event":{}}'),
    ("GET", "/v1/collections", [], ""),
    ("POST", "/v1/collections", [], '{"slug":"posts","fields":[{"slug":"title","type":"string"}]}'),
    ("PUT", "/v1/content/posts/01J", [], '{"data":{"title":"y"},"status":"published"}'),
    ("GET", "/v1/media?limit=2", [], ""),
    ("POST", "/v1/media", [("content-type", "image/png"), ("x-filename", "a.png")], b"\x89PNG\r\n"),
    ("POST", "/v1/users", [], '{"email":"a@b.c","role":50}'),
    ("GET", "/_emdash/api/media/file/..%2fsite.db", [], ""),
    ("GET", "/v1/plugins/..%2F..%2Fetc", [], ""),
    ("GET", "/v1/plugins/hello", [("authorization", "Bearer wrong")], ""),
    ("POST", "/v1/content/posts", [], '{"data":{"title":"x"}}'),
    ("GET", "/v1/content/posts?limit=1&cursor=zz", [], ""),
    ("PATCH", "/healthz", [], ""),
    ("GET", "/_emdash/api/plugins/hello/x", [], ""),
    ("GET", "/v1/channel", [("upgrade", "websocket")], ""),
]
for i, (method, target, headers, body) in enumerate(requests):
    head = "".join(f"{k}: {v}\n" for k, v in headers)
    body = body if isinstance(body, bytes) else body.encode()
    write("api", f"r{i:02d}", f"{method}\n{target}\n{head}\n".encode() + body)
print("seeds written under", root / "corpus")
