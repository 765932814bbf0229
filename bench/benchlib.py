"""What the bench scripts share: a keep-alive HTTP connection with a cookie jar."""
import http.client, json, re, urllib.parse

class Conn:
    """One keep-alive connection with a cookie jar."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port)
        self.cookies = {}

    def req(self, method, path, body=None, headers=None, token=None):
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, dict):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        self.c.request(method, path, body=body, headers=h)
        res = self.c.getresponse()
        data = res.read()
        for k, v in res.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";")[0]
        return res.status, data, dict(res.getheaders())

    def form(self, path, fields):
        return self.req("POST", path, urllib.parse.urlencode(fields),
                        {"Content-Type": "application/x-www-form-urlencoded"})


def csrf_of(html):
    return re.search(rb'name="csrf" value="([^"]+)"', html).group(1).decode()
