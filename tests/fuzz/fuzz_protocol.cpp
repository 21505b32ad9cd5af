// Fuzz target: the framed decoder of what a task's child sends the host (hb::protocol::Decoder).
// The first input byte chooses how the rest is cut into reads (as a pipe would deliver it).
// Invariants: never crash, hang or buffer without bound; once it reports an error the decoder
// stays failed and yields nothing more; the messages decoded do not depend on how the bytes were
// cut; every decoded message encodes to a frame that decodes to the same message.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_check.h"
#include "protocol.h"

namespace {

namespace p = hb::protocol;

bool same(const p::Message& a, const p::Message& b) {
    if (a.index() != b.index()) return false;
    if (const auto* x = std::get_if<p::Descriptor>(&a)) {
        const auto& y = std::get<p::Descriptor>(b);
        return x->abi_version == y.abi_version && x->default_timeout_sec == y.default_timeout_sec &&
               x->name == y.name && x->version == y.version && x->description == y.description &&
               x->default_schedule == y.default_schedule;
    }
    if (const auto* x = std::get_if<p::LoadFailure>(&a)) {
        const auto& y = std::get<p::LoadFailure>(b);
        return x->kind == y.kind && x->message == y.message;
    }
    if (const auto* x = std::get_if<p::Log>(&a)) {
        const auto& y = std::get<p::Log>(b);
        return x->level == y.level && x->message == y.message;
    }
    const auto& x = std::get<p::Result>(a);
    const auto& y = std::get<p::Result>(b);
    return x.status == y.status && x.message == y.message;
}

// Longest string a message carries (encode() cuts strings beyond its room).
size_t longest_string(const p::Message& m) {
    if (const auto* d = std::get_if<p::Descriptor>(&m))
        return std::max({d->name.size(), d->version.size(), d->description.size(), d->default_schedule.size()});
    return std::visit(
        [](const auto& x) -> size_t {
            if constexpr (requires { x.message; }) return x.message.size();
            else return 0;
        },
        m);
}

struct Decoded {
    std::vector<p::Message> messages;
    std::string error;
};

Decoded decode(std::string_view bytes, size_t chunk) {
    Decoded out;
    p::Decoder d;
    while (!bytes.empty()) {
        const size_t n = std::min(chunk, bytes.size());
        d.feed(bytes.substr(0, n));
        bytes.remove_prefix(n);
        HB_FUZZ_CHECK(d.buffered() <= p::kHeaderSize + p::kMaxPayload + chunk, "decoder buffers without bound");
        while (auto m = d.next()) {
            if (!*m) {
                HB_FUZZ_CHECK(out.error.empty(), "two errors");
                out.error = m->error().message;
                HB_FUZZ_CHECK(d.failed(), "error without failed()");
                break;
            }
            HB_FUZZ_CHECK(out.error.empty(), "a message after an error");
            out.messages.push_back(std::move(**m));
        }
        if (d.failed()) {
            HB_FUZZ_CHECK(!d.next().has_value(), "a failed decoder yields more");
            d.feed(bytes);  // more input must not revive it
            HB_FUZZ_CHECK(!d.next().has_value(), "a failed decoder yields more after feed");
            break;
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const size_t chunk = 1 + data[0] % 97;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    const Decoded cut = decode(bytes, chunk);
    const Decoded whole = decode(bytes, bytes.size() + 1);
    HB_FUZZ_CHECK(cut.messages.size() == whole.messages.size() && cut.error == whole.error,
                  "chunking changed the result: " + std::to_string(cut.messages.size()) + " vs " +
                      std::to_string(whole.messages.size()) + " messages, '" + cut.error + "' vs '" + whole.error + "'");
    for (size_t i = 0; i < cut.messages.size(); ++i) {
        HB_FUZZ_CHECK(same(cut.messages[i], whole.messages[i]), "chunking changed message " + std::to_string(i));
        const p::Message& m = cut.messages[i];
        if (longest_string(m) > (p::kMaxPayload - 64) / 4) continue;  // encode() would cut it
        const std::string frame = p::encode(m);
        p::Decoder d;
        d.feed(frame);
        auto back = d.next();
        HB_FUZZ_CHECK(back && *back && same(**back, m), "a decoded message does not survive encode + decode");
        HB_FUZZ_CHECK(!d.next().has_value() && d.buffered() == 0, "encode() wrote more than one frame");
    }
    return 0;
}
