"""Uploads a file to Veza with tuspy, a real tus 1.0 client, and survives a cut-off chunk.

Usage: resume.py BASE_URL ACCESS_TOKEN FILE

Uploads two chunks with checksums, then sends half of the next chunk over a raw connection
(declaring the whole chunk) and closes it, as a dropped network would. A new uploader on the
same URL asks the server where the upload is (HEAD), must find it where the last whole chunk
left it, and finishes. Prints the upload URL. Run by tests/e2e/uploads.rs.
"""

import os
import socket
import sys
import urllib.parse

from tusclient import client

CHUNK = 8192


def cut_chunk(url, token, data, offset):
    """Sends half of the chunk at `offset` while declaring all of it, then hangs up."""
    target = urllib.parse.urlsplit(url)
    head = (
        f"PATCH {target.path} HTTP/1.1\r\n"
        f"Host: {target.netloc}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Tus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\n"
        f"Content-Length: {CHUNK}\r\n"
        "\r\n"
    ).encode()
    with socket.create_connection((target.hostname, target.port), timeout=10) as conn:
        conn.sendall(head + data[offset : offset + CHUNK // 2])


def main():
    base, token, path = sys.argv[1:4]
    endpoint = base + "/api/v1/tracks/uploads"
    headers = {"Authorization": f"Bearer {token}"}
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) > 3 * CHUNK, "the fixture must span several chunks"

    first = client.TusClient(endpoint, headers=headers).uploader(
        path,
        chunk_size=CHUNK,
        metadata={"filename": os.path.basename(path)},
        upload_checksum=True,
    )
    first.upload(stop_at=2 * CHUNK)
    assert first.offset == 2 * CHUNK, first.offset
    url = first.url

    cut_chunk(url, token, data, first.offset)

    second = client.TusClient(endpoint, headers=headers).uploader(
        path, url=url, chunk_size=CHUNK, upload_checksum=True
    )
    assert second.offset == 2 * CHUNK, f"resumed at {second.offset}, not {2 * CHUNK}"
    second.upload()
    assert second.offset == len(data), (second.offset, len(data))
    print(url)


if __name__ == "__main__":
    main()
