#include "core/yaml_document.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/errors.hpp"

namespace metaguard {
namespace {

using nlohmann::json;

// Deeper or bigger than any config: keeps a hostile file (nesting, or aliases that expand
// exponentially) from exhausting the stack or memory.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 1 << 20;

// Longer scalars are text: no number or keyword is this long, and libstdc++'s regex
// recurses per character (a 100k-digit scalar would overflow the stack).
constexpr size_t kMaxTypedScalar = 64;

json plain_scalar(const std::string& text) {
  if (text.size() > kMaxTypedScalar) return text;
  static const std::regex null_text("~|null|Null|NULL|");
  static const std::regex true_text("true|True|TRUE");
  static const std::regex false_text("false|False|FALSE");
  static const std::regex integer_text("[-+]?[0-9]+");
  static const std::regex float_text(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  static const std::regex infinity_text(R"([-+]?\.(inf|Inf|INF))");
  static const std::regex nan_text(R"(\.(nan|NaN|NAN))");
  if (std::regex_match(text, null_text)) return nullptr;
  if (std::regex_match(text, true_text)) return true;
  if (std::regex_match(text, false_text)) return false;
  if (std::regex_match(text, integer_text)) {
    errno = 0;
    long long value = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == 0) return value;
  }
  if (std::regex_match(text, float_text)) return std::strtod(text.c_str(), nullptr);
  if (std::regex_match(text, infinity_text)) {
    return text[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (std::regex_match(text, nan_text)) return std::numeric_limits<double>::quiet_NaN();
  return text;
}

json to_json(const YAML::Node& node, const std::string& source, int depth, size_t& nodes) {
  if (depth > kMaxDepth) throw InputError(fmt::format("{}: YAML nested deeper than {} levels", source, kMaxDepth));
  if (++nodes > kMaxNodes) throw InputError(fmt::format("{}: YAML expands to more than {} values", source, kMaxNodes));
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" is the tag of a quoted scalar: a string whatever it reads like.
      return node.Tag() == "!" ? json(node.Scalar()) : plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json list = json::array();
      for (const auto& item : node) list.push_back(to_json(item, source, depth + 1, nodes));
      return list;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& item : node) {
        if (!item.first.IsScalar()) throw InputError(fmt::format("{}: a YAML mapping key is not a scalar", source));
        object[item.first.Scalar()] = to_json(item.second, source, depth + 1, nodes);
      }
      return object;
    }
  }
  return nullptr;
}

void emit(YAML::Emitter& out, const json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& item : value.items()) {
      out << YAML::Key << item.key() << YAML::Value;
      emit(out, item.value());
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& item : value) emit(out, item);
    out << YAML::EndSeq;
  } else if (value.is_null()) {
    out << YAML::Null;
  } else if (value.is_boolean()) {
    out << YAML::TrueFalseBool << value.get<bool>();
  } else if (value.is_number_integer()) {
    out << value.get<int64_t>();
  } else if (value.is_number()) {
    // Shortest text that reads back exactly (what json's dump prints), in the form YAML 1.1
    // (PyYAML) takes as a float: a '.' in the mantissa ("1e-05" would be a string there).
    std::string text = value.dump();
    const auto exponent = text.find_first_of("eE");
    const std::string mantissa = text.substr(0, exponent);
    if (mantissa.find('.') == std::string::npos) {
      text = mantissa + ".0" + (exponent == std::string::npos ? "" : text.substr(exponent));
    }
    out << text;
  } else {
    // Always quoted: PyYAML reads yes, on, 0x10, 1_000 or a date unquoted as other types.
    out << YAML::DoubleQuoted << value.get<std::string>();
  }
}

}  // namespace

std::string yaml_from_json(const json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

json parse_yaml_document(const std::string& text, const std::string& source) {
  try {
    size_t nodes = 0;
    return to_json(YAML::Load(text), source, 0, nodes);
  } catch (const YAML::Exception& error) {
    throw InputError(fmt::format("{}: not valid YAML (line {}): {}", source, error.mark.line + 1, error.msg));
  }
}

}  // namespace metaguard
