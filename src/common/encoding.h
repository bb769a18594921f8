// Byte encodings used on the wire: base64 (standard, padded), base64url (unpadded), hex; and
// UTF-8 validity, for text from outside that is echoed into JSON.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ps {

std::string Base64Encode(std::string_view bytes);
// Strict: rejects characters outside the alphabet and bad padding.
std::optional<std::string> Base64Decode(std::string_view text);
// Lenient, like browsers' atob after whitespace removal: padding optional, whitespace ignored.
std::optional<std::string> Base64DecodeLenient(std::string_view text);

std::string Base64UrlEncode(std::string_view bytes);  // no padding
std::optional<std::string> Base64UrlDecode(std::string_view text);

std::string HexEncode(std::string_view bytes);

// Byte offset of the first byte that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or npos when all of `s` is valid.
size_t InvalidUtf8At(std::string_view s);
// `s` with every invalid byte replaced by U+FFFD: what an error message may quote from a request
// (a method, a path, a name), so that the JSON around it stays valid.
std::string ValidUtf8(std::string_view s);

}  // namespace ps
