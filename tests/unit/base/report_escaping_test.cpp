#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "report/escaping.hpp"

using namespace metaguard;

namespace {

// Independent of the code under test: a decoder for the entities XML defines and numeric
// character references.
std::string xml_unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t end = s.find(';', i);
    REQUIRE(end != std::string::npos);
    std::string name = s.substr(i + 1, end - i - 1);
    if (name == "amp") out += '&';
    else if (name == "lt") out += '<';
    else if (name == "gt") out += '>';
    else if (name == "quot") out += '"';
    else if (name == "apos") out += '\'';
    else if (!name.empty() && name[0] == '#') out += static_cast<char>(std::stoi(name.substr(1)));
    else FAIL("unknown entity &" << name << ";");
    i = end;
  }
  return out;
}

std::string encode_utf8(uint32_t code) {
  std::string out;
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
  return out;
}

// Text made only of characters XML allows: printable ASCII (markup characters included),
// tab/newline/CR and code points from every UTF-8 length class.
rc::Gen<std::string> gen_xml_safe_text() {
  auto code_point = rc::gen::oneOf(
      rc::gen::inRange<uint32_t>(0x20, 0x7F), rc::gen::element<uint32_t>(0x09, 0x0A, 0x0D),
      rc::gen::inRange<uint32_t>(0xA0, 0x800), rc::gen::inRange<uint32_t>(0x800, 0xD800),
      rc::gen::inRange<uint32_t>(0xE000, 0xFFFE), rc::gen::inRange<uint32_t>(0x10000, 0x110000));
  return rc::gen::map(rc::gen::container<std::vector<uint32_t>>(code_point), [](const std::vector<uint32_t>& codes) {
    std::string out;
    for (uint32_t c : codes) out += encode_utf8(c);
    return out;
  });
}

bool is_valid_utf8_by_json(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();  // nlohmann rejects invalid UTF-8 when serializing
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

bool has_forbidden_control(const std::string& s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7F) return true;
  }
  return false;
}

// Drops the backslash in front of ASCII punctuation (CommonMark's backslash escapes).
std::string markdown_unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && std::ispunct(static_cast<unsigned char>(s[i + 1]))) ++i;
    out += s[i];
  }
  return out;
}

}  // namespace

TEST_CASE("report escaping: XML text and attributes escape markup", "[report][escaping]") {
  CHECK(escape_xml_text("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d");
  CHECK(escape_xml_text("]]>") == "]]&gt;");
  CHECK(escape_xml_text("say \"hi\" 'there'") == "say \"hi\" 'there'");
  CHECK(escape_xml_attribute("say \"hi\" 'there'") == "say &quot;hi&quot; &#39;there&#39;");
  CHECK(escape_xml_attribute("line\nbreak\tand\r") == "line&#10;break&#9;and&#13;");
  CHECK(escape_xml_text("transformer.h.0.attn.attn.lora_ind") == "transformer.h.0.attn.attn.lora_ind");
}

TEST_CASE("report escaping: invalid UTF-8 and forbidden controls become U+FFFD", "[report][escaping]") {
  const std::string replacement = "\xEF\xBF\xBD";
  CHECK(sanitize_utf8(std::string("a\0b", 3)) == "a" + replacement + "b");
  CHECK(sanitize_utf8("\x01\x1F\x7F") == replacement + replacement + replacement);
  CHECK(sanitize_utf8("tab\tnl\ncr\r") == "tab\tnl\ncr\r");
  CHECK(sanitize_utf8("\xC3\xA9t\xC3\xA9") == "\xC3\xA9t\xC3\xA9");  // "été" stays
  CHECK(sanitize_utf8("\xC3") == replacement);                      // truncated sequence
  CHECK(sanitize_utf8("\xC0\xAF") == replacement + replacement);    // overlong '/'
  CHECK(sanitize_utf8("\xED\xA0\x80") == replacement + replacement + replacement);  // surrogate
  CHECK(sanitize_utf8("\xF4\x90\x80\x80") == replacement + replacement + replacement + replacement);  // > U+10FFFF
  CHECK(sanitize_utf8("\xEF\xBF\xBE") == replacement + replacement + replacement);  // U+FFFE
  CHECK(sanitize_utf8("\xF0\x9F\x99\x82") == "\xF0\x9F\x99\x82");  // an emoji stays
}

TEST_CASE("report escaping: properties of the XML escapes", "[report][escaping][property]") {
  rc::prop("sanitized text is valid UTF-8 without forbidden controls", [](const std::string& bytes) {
    std::string clean = sanitize_utf8(bytes);
    RC_ASSERT(is_valid_utf8_by_json(clean));
    RC_ASSERT(!has_forbidden_control(clean));
  });
  rc::prop("sanitizing leaves XML-safe text unchanged", [] {
    std::string text = *gen_xml_safe_text();
    RC_ASSERT(sanitize_utf8(text) == text);
  });
  rc::prop("escaped text has no raw markup and decodes to the sanitized input", [](const std::string& bytes) {
    std::string escaped = escape_xml_text(bytes);
    RC_ASSERT(escaped.find('<') == std::string::npos);
    RC_ASSERT(escaped.find('>') == std::string::npos);
    RC_ASSERT(xml_unescape(escaped) == sanitize_utf8(bytes));
  });
  rc::prop("escaped attributes have no quotes or raw whitespace controls and decode back", [] {
    std::string text = *gen_xml_safe_text();
    std::string escaped = escape_xml_attribute(text);
    for (char c : std::string("<>\"'\t\n\r")) RC_ASSERT(escaped.find(c) == std::string::npos);
    RC_ASSERT(xml_unescape(escaped) == text);
  });
}

TEST_CASE("report escaping: Markdown text", "[report][escaping]") {
  CHECK(escape_markdown("lora_ind") == "lora\\_ind");
  CHECK(escape_markdown("a|b") == "a\\|b");
  CHECK(escape_markdown("<b>*x*</b>") == "\\<b\\>\\*x\\*\\</b\\>");
  CHECK(escape_markdown("[link](http://x)") == "\\[link\\](http://x)");
  CHECK(escape_markdown("one\ntwo\r\nthree") == "one two three");
  CHECK(escape_markdown("&amp; $x$") == "\\&amp; \\$x\\$");
  CHECK(escape_markdown("`code`") == "\\`code\\`");

  rc::prop("escaped Markdown has no unescaped special character or line break", [](const std::string& bytes) {
    std::string escaped = escape_markdown(bytes);
    RC_ASSERT(escaped.find('\n') == std::string::npos);
    RC_ASSERT(escaped.find('\r') == std::string::npos);
    for (size_t i = 0; i < escaped.size(); ++i) {
      if (escaped[i] == '\\') {
        RC_ASSERT(i + 1 < escaped.size());  // never a dangling backslash
        ++i;
        continue;
      }
      RC_ASSERT(std::string("`*_[]<>|&!~#$").find(escaped[i]) == std::string::npos);
    }
  });
  rc::prop("unescaping gives the text with line breaks as spaces", [] {
    std::string text = *gen_xml_safe_text();
    std::string expected;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r' || text[i] == '\n') {
        if (expected.empty() || expected.back() != '\x01') expected += '\x01';
        continue;
      }
      expected += text[i];
    }
    for (char& c : expected) {
      if (c == '\x01') c = ' ';
    }
    RC_ASSERT(markdown_unescape(escape_markdown(text)) == expected);
  });
}

TEST_CASE("report escaping: Markdown code spans for table cells", "[report][escaping]") {
  CHECK(markdown_code_cell("") == "");
  CHECK(markdown_code_cell("lora_ind") == "`lora_ind`");
  CHECK(markdown_code_cell("a|b") == "`a\\|b`");
  CHECK(markdown_code_cell("a`b") == "``a`b``");
  CHECK(markdown_code_cell("`x") == "`` `x ``");
  CHECK(markdown_code_cell(" x ") == "`  x  `");
  CHECK(markdown_code_cell("   ") == "`   `");
  CHECK(markdown_code_cell("a\nb") == "`a b`");

  rc::prop("the fence is longer than every backtick run inside", [](const std::string& bytes) {
    RC_PRE(!bytes.empty());
    std::string cell = markdown_code_cell(bytes);
    size_t fence = cell.find_first_not_of('`');
    RC_ASSERT(fence != std::string::npos);
    RC_ASSERT(cell.size() > 2 * fence);
    std::string body = cell.substr(fence, cell.size() - 2 * fence);
    RC_ASSERT(cell.substr(cell.size() - fence) == std::string(fence, '`'));
    RC_ASSERT(body.find(std::string(fence, '`')) == std::string::npos);
    RC_ASSERT(body.find('\n') == std::string::npos);
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '|') RC_ASSERT((i > 0 && body[i - 1] == '\\'));
    }
  });
}
