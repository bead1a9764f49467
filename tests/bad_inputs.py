"""Bad hierarchy uploads shared by the AppTest and browser tests: file name → (bytes, what the message says)."""

BAD_UPLOADS = {
    "broken.json": (b"not json {", "not valid JSON"),
    "cyclic.csv": (b"parent,child\na,b\nb,a\n", "cycle"),
    "repeated_leaf.json": (b'{"name": "r", "children": [{"name": "x", "children": [{"name": "a"}]}, '
                           b'{"name": "y", "children": [{"name": "a"}]}]}', "duplicate leaf name 'a'"),
    "single_leaf.nwk": (b"(a)root;", "1 leaf; at least 2 are needed"),
    "empty.json": (b"", "the file is empty"),
    "model.pkl": (b"\x80\x04K\x01.", "the pickle holds an int 1, not a hierarchy"),
    "payload.pkl": (b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c\x04true\x85R.", "refused to load 'posix.system'"),
}
