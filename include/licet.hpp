// licet.hpp: a header-only C++17 wrapper over licet.h (the C ABI of the Licet client SDK).
//
// Owning handles (RAII), exceptions that carry the result code, and a non-throwing
// `try_check` for the launch path. Hand-written (not generated); it uses only licet.h.
//
//   licet::Client client(licet::Options{"https://licensing.example.com", "photo", LICET_PINNED_KEYS});
//   licet::Outcome outcome = client.try_check();      // never throws
//   if (outcome.license) { enable(outcome.license->has("pro")); }
//   else if (outcome.is_license_state()) { ask_for_key_or_renewal(outcome); }
//   else { log(outcome.detail); }                      // network, TLS, storage, config
//
//   if (std::optional<licet::Update> update = client.check_update(APP_VERSION)) {
//       if (update->is_allowed()) client.download(*update, path, [](uint64_t done, uint64_t total) { … });
//       else tell_user(update->version() + " is out; renew to get it");
//   }
//
// Threads: a Client may be shared between threads; a License and an Update are values
// (copy-free, move-only).
#ifndef LICET_HPP
#define LICET_HPP

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "licet.h"

namespace licet {

// The calling thread's last error detail (empty if none).
inline std::string last_error_detail() {
    std::string out(256, '\0');
    size_t n = 0;
    licet_result r = licet_last_error_message(out.data(), out.size(), &n);
    if (r == LICET_BUFFER_TOO_SMALL) {
        out.assign(n + 1, '\0');
        r = licet_last_error_message(out.data(), out.size(), &n);
    }
    if (r != LICET_OK) return std::string();
    out.resize(n);
    return out;
}

// A failed call: the result code, the library's message for it and the call's detail.
class Error : public std::runtime_error {
public:
    explicit Error(licet_result code)
        : std::runtime_error(describe(code)), code_(code), retry_after_(licet_last_error_retry_after()) {}
    licet_result code() const noexcept { return code_; }
    // A definite verdict about the license (1xxx), as opposed to a failure to get one.
    bool is_license_state() const noexcept { return licet_result_is_license_state(code_); }
    // After LICET_RATE_LIMITED: seconds to wait before trying again.
    uint64_t retry_after() const noexcept { return retry_after_; }

private:
    static std::string describe(licet_result code) {
        std::string text = licet_result_message(code);
        std::string detail = last_error_detail();
        if (!detail.empty()) text += ": " + detail;
        return text;
    }
    licet_result code_;
    uint64_t retry_after_;
};

inline void ensure(licet_result r) {
    if (r != LICET_OK) throw Error(r);
}

namespace detail {
// Copies a string out through the size-reporting buffer protocol (lengths exclude the NUL).
template <typename F>
std::string read_string(F &&read) {
    std::string out(64, '\0');
    size_t n = 0;
    licet_result r = read(out.data(), out.size(), &n);
    if (r == LICET_BUFFER_TOO_SMALL) {
        out.assign(n + 1, '\0');
        r = read(out.data(), out.size(), &n);
    }
    ensure(r);
    out.resize(n);
    return out;
}
}  // namespace detail

// A license that is valid on this machine now; owns its licet_license.
class License {
public:
    explicit License(licet_license *raw) : raw_(raw, &licet_license_free) {}
    std::string id() const {
        return detail::read_string([&](char *b, size_t l, size_t *n) { return licet_license_id(raw_.get(), b, l, n); });
    }
    std::string product() const {
        return detail::read_string(
            [&](char *b, size_t l, size_t *n) { return licet_license_product(raw_.get(), b, l, n); });
    }
    // The customer's email; empty when the server sent none.
    std::string email() const {
        return detail::read_string(
            [&](char *b, size_t l, size_t *n) { return licet_license_email(raw_.get(), b, l, n); });
    }
    // When the license itself expires (Unix seconds); nullopt for a perpetual license.
    std::optional<int64_t> expires_at() const {
        int64_t t = licet_license_expires_at(raw_.get());
        return t == 0 ? std::nullopt : std::optional<int64_t>(t);
    }
    // When the subscription renews next (Unix seconds); nullopt when the license is not sold
    // by subscription or the subscription is canceled.
    std::optional<int64_t> renews_at() const {
        int64_t t = licet_license_renews_at(raw_.get());
        return t == 0 ? std::nullopt : std::optional<int64_t>(t);
    }
    // When the canceled subscription ends (Unix seconds); nullopt while it renews.
    std::optional<int64_t> subscription_ends_at() const {
        int64_t t = licet_license_subscription_ends_at(raw_.get());
        return t == 0 ? std::nullopt : std::optional<int64_t>(t);
    }
    // True when the customer canceled and the subscription ends at the period's end.
    bool cancels_at_period_end() const { return licet_license_cancels_at_period_end(raw_.get()); }
    // True while a renewal payment is unpaid (Stripe retries it).
    bool payment_past_due() const { return licet_license_payment_past_due(raw_.get()); }
    // Until when the app may run offline on the current lease (Unix seconds).
    int64_t offline_valid_until() const { return licet_license_offline_valid_until(raw_.get()); }
    // When the server signed the current lease: the last successful online check.
    int64_t issued_at() const { return licet_license_issued_at(raw_.get()); }
    uint32_t max_activations() const { return licet_license_max_activations(raw_.get()); }
    // True for this machine's trial (licet_client_start_trial), false for a license.
    bool is_trial() const { return licet_license_is_trial(raw_.get()); }
    // When the trial ends (Unix seconds); nullopt for a license.
    std::optional<int64_t> trial_ends_at() const {
        int64_t t = licet_license_trial_ends_at(raw_.get());
        return t == 0 ? std::nullopt : std::optional<int64_t>(t);
    }
    bool has(const std::string &entitlement) const {
        return licet_license_has_entitlement(raw_.get(), entitlement.c_str());
    }
    std::vector<std::string> entitlements() const {
        std::vector<std::string> out;
        for (size_t i = 0; i < licet_license_entitlement_count(raw_.get()); i++) {
            out.push_back(detail::read_string(
                [&](char *b, size_t l, size_t *n) { return licet_license_entitlement(raw_.get(), i, b, l, n); }));
        }
        return out;
    }
    // The vendor's metadata value for `key`; nullopt when the license has no such key.
    std::optional<std::string> metadata(const std::string &key) const {
        try {
            return detail::read_string([&](char *b, size_t l, size_t *n) {
                return licet_license_metadata(raw_.get(), key.c_str(), b, l, n);
            });
        } catch (const Error &e) {
            if (e.code() == LICET_NOT_FOUND) return std::nullopt;
            throw;
        }
    }
    // Every metadata entry, keys in byte order.
    std::map<std::string, std::string> metadata() const {
        std::map<std::string, std::string> out;
        for (size_t i = 0; i < licet_license_metadata_count(raw_.get()); i++) {
            std::string key = detail::read_string(
                [&](char *b, size_t l, size_t *n) { return licet_license_metadata_key(raw_.get(), i, b, l, n); });
            out[key] = metadata(key).value_or("");
        }
        return out;
    }

private:
    std::unique_ptr<licet_license, decltype(&licet_license_free)> raw_;
};

// A newer release than the one running (see licet_client_check_update); owns its licet_update.
// An update the license covers (is_allowed), or word of a newer release it does not cover:
// then version() and published_at() describe that release, not_allowed_reason() says why, and
// there is no file (notes, channel and sha256 are empty, size is 0).
class Update {
public:
    explicit Update(licet_update *raw) : raw_(raw, &licet_update_free) {}
    std::string version() const { return licet_update_version(raw_.get()); }
    // Release notes (Markdown).
    std::string notes() const { return licet_update_notes(raw_.get()); }
    std::string channel() const { return licet_update_channel(raw_.get()); }
    // The file's SHA-256, lower-case hex.
    std::string sha256() const { return licet_update_sha256(raw_.get()); }
    // When the release was published (Unix seconds).
    int64_t published_at() const { return licet_update_published_at(raw_.get()); }
    // The file's size in bytes.
    uint64_t size() const { return licet_update_size(raw_.get()); }
    bool is_allowed() const { return licet_update_is_allowed(raw_.get()); }
    // Why the license does not cover this update (or, for an allowed one, the newer release
    // of newer_not_allowed_version()).
    licet_not_allowed_reason not_allowed_reason() const { return licet_update_not_allowed_reason(raw_.get()); }
    // For an allowed update: a newer release still that the license does not cover.
    std::optional<std::string> newer_not_allowed_version() const {
        const char *v = licet_update_newer_not_allowed_version(raw_.get());
        return v ? std::optional<std::string>(v) : std::nullopt;
    }
    const licet_update *get() const noexcept { return raw_.get(); }

private:
    std::unique_ptr<licet_update, decltype(&licet_update_free)> raw_;
};

namespace detail {
// A download's progress function, and what it threw (the library is C: nothing may be thrown
// through it, so the exception waits until the download has stopped).
struct Progress {
    std::function<void(uint64_t, uint64_t)> *report;
    std::exception_ptr error;
};

inline void on_progress(uint64_t downloaded, uint64_t total, void *user_data) noexcept {
    auto *progress = static_cast<Progress *>(user_data);
    if (progress->error) return;
    try {
        (*progress->report)(downloaded, total);
    } catch (...) {
        progress->error = std::current_exception();
    }
}
}  // namespace detail

// What `try_check` found: a license, or the code and detail of why not. Never both.
struct Outcome {
    licet_result code = LICET_OK;
    std::optional<License> license;
    std::string detail;
    // A verdict about the license (1xxx): not activated, expired, lease ran out, suspended, …
    bool is_license_state() const noexcept { return licet_result_is_license_state(code); }
    explicit operator bool() const noexcept { return license.has_value(); }
};

// How to reach the server and what to trust. Empty optional fields keep the defaults.
struct Options {
    Options(std::string server_url_, std::string product_, std::string pinned_keys_)
        : server_url(std::move(server_url_)), product(std::move(product_)), pinned_keys(std::move(pinned_keys_)) {}
    std::string server_url;
    std::string product;
    std::string pinned_keys;  // a JWKS document or base64url keys (see licet_config_set_pinned_keys)
    std::optional<std::string> app_name;
    std::optional<std::string> storage_dir;
    std::optional<std::string> fingerprint;
    std::optional<std::string> machine_name;
    std::optional<std::string> proxy;
    std::optional<std::string> root_ca_pem;
    std::optional<uint32_t> timeout_ms;
    std::optional<bool> use_keyring;
};

// A client for one product; owns its licet_client. Safe to share between threads.
class Client {
public:
    explicit Client(const Options &o) : raw_(nullptr, &licet_client_free) {
        licet_config *config = nullptr;
        ensure(licet_config_new(o.server_url.c_str(), o.product.c_str(), &config));
        std::unique_ptr<licet_config, decltype(&licet_config_free)> owned(config, &licet_config_free);
        ensure(licet_config_set_pinned_keys(config, o.pinned_keys.c_str()));
        if (o.app_name) ensure(licet_config_set_app_name(config, o.app_name->c_str()));
        if (o.storage_dir) ensure(licet_config_set_storage_dir(config, o.storage_dir->c_str()));
        if (o.fingerprint) ensure(licet_config_set_fingerprint(config, o.fingerprint->c_str()));
        if (o.machine_name) ensure(licet_config_set_machine_name(config, o.machine_name->c_str()));
        if (o.proxy) ensure(licet_config_set_proxy(config, o.proxy->c_str()));
        if (o.root_ca_pem) ensure(licet_config_set_root_ca_pem(config, o.root_ca_pem->c_str()));
        if (o.timeout_ms) ensure(licet_config_set_timeout_ms(config, *o.timeout_ms));
        if (o.use_keyring) ensure(licet_config_set_use_keyring(config, *o.use_keyring));
        licet_client *client = nullptr;
        ensure(licet_client_new(config, &client));
        raw_.reset(client);
    }

    License activate(const std::string &key) {
        return run([&](licet_license **l) { return licet_client_activate(raw_.get(), key.c_str(), l); });
    }
    // Starts (or resumes) this machine's trial (see licet_client_start_trial).
    License start_trial() {
        return run([&](licet_license **l) { return licet_client_start_trial(raw_.get(), l); });
    }
    // Offline-first check (see licet_client_check); throws Error when not licensed.
    License check() {
        return run([&](licet_license **l) { return licet_client_check(raw_.get(), l); });
    }
    // The same check, without exceptions: for the launch path.
    Outcome try_check() noexcept {
        Outcome out;
        licet_license *raw = nullptr;
        out.code = licet_client_check(raw_.get(), &raw);
        if (out.code == LICET_OK) {
            out.license.emplace(raw);
        } else {
            try {
                out.detail = last_error_detail();
            } catch (...) {
                // Out of memory for the detail: the code still says what happened.
            }
        }
        return out;
    }
    License validate() {
        return run([&](licet_license **l) { return licet_client_validate(raw_.get(), l); });
    }
    void deactivate() { ensure(licet_client_deactivate(raw_.get())); }
    // Forgets the key and lease here; the seat stays taken (deactivate frees it).
    void forget() { ensure(licet_client_forget(raw_.get())); }
    // The activated key, masked for display unless `masked` is false; empty before activation.
    std::string license_key(bool masked = true) const {
        return detail::read_string(
            [&](char *b, size_t l, size_t *n) { return licet_client_license_key(raw_.get(), masked, b, l, n); });
    }
    std::string fingerprint() const {
        return detail::read_string(
            [&](char *b, size_t l, size_t *n) { return licet_client_fingerprint(raw_.get(), b, l, n); });
    }
    // Is there a newer release for this machine (see licet_client_check_update)? nullopt when
    // `current_version` is the newest; no channel means "stable".
    std::optional<Update> check_update(const std::string &current_version,
                                       const std::optional<std::string> &channel = std::nullopt) {
        licet_update *raw = nullptr;
        ensure(licet_client_check_update(raw_.get(), current_version.c_str(), channel ? channel->c_str() : nullptr,
                                         &raw));
        if (raw == nullptr) return std::nullopt;
        return Update(raw);
    }
    // Downloads `update` (found by this client) to `path`, verified (see licet_update_download),
    // calling `progress(downloaded, total)` as bytes arrive. Throws Error (LICET_UPDATE_NOT_ALLOWED,
    // LICET_UPDATE_VERIFICATION, …); an exception from `progress` is rethrown once the download
    // is over, and `progress` is not called again after it.
    void download(const Update &update, const std::string &path,
                  std::function<void(uint64_t, uint64_t)> progress = nullptr) {
        detail::Progress context{&progress, nullptr};
        licet_result r = licet_update_download(raw_.get(), update.get(), path.c_str(),
                                               progress ? &detail::on_progress : nullptr, &context);
        if (context.error) std::rethrow_exception(context.error);
        ensure(r);
    }

private:
    template <typename F>
    License run(F &&op) {
        licet_license *raw = nullptr;
        ensure(op(&raw));
        return License(raw);
    }
    std::unique_ptr<licet_client, decltype(&licet_client_free)> raw_;
};

}  // namespace licet

#endif  // LICET_HPP
