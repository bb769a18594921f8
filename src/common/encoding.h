// Byte encodings used on the wire: base64 (standard, padded), base64url (unpadded), hex.
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

}  // namespace ps
