// licet-demo-cpp (C++17): the same app as examples/c, through a small RAII wrapper.
//
//   licet-demo-cpp activate KEY | check | deactivate
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "licet.h"

namespace licet {

// A failed call: the code and the library's detail.
class Error : public std::runtime_error {
public:
    explicit Error(licet_result code) : std::runtime_error(describe(code)), code_(code) {}
    licet_result code() const { return code_; }
    bool is_license_state() const { return licet_result_is_license_state(code_); }

private:
    static std::string describe(licet_result code) {
        std::string text = licet_result_message(code);
        char detail[512];
        size_t n = 0;
        if (licet_last_error_message(detail, sizeof detail, &n) == LICET_OK && n > 0) {
            text += ": ";
            text += detail;
        }
        return text;
    }
    licet_result code_;
};

inline void check(licet_result r) {
    if (r != LICET_OK) throw Error(r);
}

// Copies a string out through the size-reporting buffer protocol.
template <typename F>
std::string read_string(F &&read) {
    std::string out(64, '\0');
    size_t n = 0;
    licet_result r = read(out.data(), out.size(), &n);
    if (r == LICET_BUFFER_TOO_SMALL) {
        out.assign(n + 1, '\0');
        r = read(out.data(), out.size(), &n);
    }
    check(r);
    out.resize(n);
    return out;
}

// A valid license; owns its licet_license.
class License {
public:
    explicit License(licet_license *raw) : raw_(raw, &licet_license_free) {}
    std::string id() const {
        return read_string([&](char *b, size_t l, size_t *n) { return licet_license_id(raw_.get(), b, l, n); });
    }
    std::optional<int64_t> expires_at() const {
        int64_t t = licet_license_expires_at(raw_.get());
        return t == 0 ? std::nullopt : std::optional<int64_t>(t);
    }
    int64_t offline_valid_until() const { return licet_license_offline_valid_until(raw_.get()); }
    bool has(const std::string &entitlement) const {
        return licet_license_has_entitlement(raw_.get(), entitlement.c_str());
    }
    std::vector<std::string> entitlements() const {
        std::vector<std::string> out;
        for (size_t i = 0; i < licet_license_entitlement_count(raw_.get()); i++) {
            out.push_back(read_string(
                [&](char *b, size_t l, size_t *n) { return licet_license_entitlement(raw_.get(), i, b, l, n); }));
        }
        return out;
    }

private:
    std::unique_ptr<licet_license, decltype(&licet_license_free)> raw_;
};

// A client; owns its licet_client. Safe to share between threads.
class Client {
public:
    Client(const std::string &server, const std::string &product, const std::string &pinned_keys,
           const char *storage_dir, const char *fingerprint)
        : raw_(nullptr, &licet_client_free) {
        licet_config *config = nullptr;
        check(licet_config_new(server.c_str(), product.c_str(), &config));
        std::unique_ptr<licet_config, decltype(&licet_config_free)> owned(config, &licet_config_free);
        check(licet_config_set_pinned_keys(config, pinned_keys.c_str()));
        if (storage_dir) check(licet_config_set_storage_dir(config, storage_dir));
        if (fingerprint) check(licet_config_set_fingerprint(config, fingerprint));
        if (std::getenv("LICET_NO_KEYRING")) check(licet_config_set_use_keyring(config, false));
        licet_client *client = nullptr;
        check(licet_client_new(config, &client));
        raw_.reset(client);
    }
    License activate(const std::string &key) { return run([&](licet_license **l) { return licet_client_activate(raw_.get(), key.c_str(), l); }); }
    License check_license() { return run([&](licet_license **l) { return licet_client_check(raw_.get(), l); }); }
    void deactivate() { check(licet_client_deactivate(raw_.get())); }

private:
    template <typename F>
    License run(F &&op) {
        licet_license *raw = nullptr;
        check(op(&raw));
        return License(raw);
    }
    std::unique_ptr<licet_client, decltype(&licet_client_free)> raw_;
};

}  // namespace licet

static std::string env_or(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return (v && *v) ? v : fallback;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: licet-demo-cpp activate KEY | check | deactivate\n";
        return 2;
    }
    std::ifstream jwks_file(env_or("LICET_JWKS", "jwks.json"));
    std::stringstream jwks;
    jwks << jwks_file.rdbuf();
    try {
        licet::Client client(env_or("LICET_SERVER", "http://127.0.0.1:8787"), env_or("LICET_PRODUCT", "photo"),
                             jwks.str(), std::getenv("LICET_STORAGE_DIR"), std::getenv("LICET_FINGERPRINT"));
        std::string command = argv[1];
        if (command == "deactivate") {
            client.deactivate();
            std::cout << "deactivate: result=0\n";
            return 0;
        }
        std::optional<licet::License> license;
        if (command == "activate" && argc == 3) {
            license.emplace(client.activate(argv[2]));
        } else if (command == "check") {
            license.emplace(client.check_license());
        } else {
            std::cerr << "unknown command\n";
            return 2;
        }
        std::cout << command << ": result=0 license " << license->id() << "\n  entitlements:";
        for (const auto &e : license->entitlements()) std::cout << ' ' << e;
        std::cout << "\n  pro: " << (license->has("pro") ? "yes" : "no") << '\n';
        return 0;
    } catch (const licet::Error &e) {
        std::cout << argv[1] << ": result=" << e.code() << " (" << e.what() << ")\n";
        return 1;
    }
}
