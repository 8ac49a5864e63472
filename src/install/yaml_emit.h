// YAML text for the install manifests: JSON documents written in block style, keys in the order
// the document holds them (nlohmann::ordered_json), the way kubectl prints objects (sequence
// items at the indentation of their key).
//
// The output is meant to be read by people and by any YAML 1.1 or 1.2 reader alike: a string is
// written plain only when no reader could take it for anything else (a number, a boolean such as
// YAML 1.1's `on`, null, a flow collection, a comment), and in JSON's double-quoted form
// otherwise. The text is a pure function of the documents, so a generated file can be committed
// and compared byte for byte.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ramp::install {

// One document (no leading "---"); ends with a newline.
std::string ToYaml(const nlohmann::ordered_json& document);

// Several documents, each preceded by "---", after `header` (comment lines written as given,
// each prefixed with "# ").
std::string ToYamlDocuments(const std::vector<nlohmann::ordered_json>& documents,
                            const std::vector<std::string>& header = {});

// Whether `s` may be written as a plain scalar (see the header comment).
bool IsPlainSafe(std::string_view s);

}  // namespace ramp::install
