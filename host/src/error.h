// Errors as values: every fallible function in the host returns std::expected<T, Error>.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace hb {

struct Error {
    std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) { return std::unexpected<Error>(Error{std::move(message)}); }

}  // namespace hb
