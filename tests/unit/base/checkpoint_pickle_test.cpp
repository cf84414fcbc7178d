// The allow-list unpickler and the flattening of its value tree. Inputs are pickles that
// Python's own pickler wrote (hex below, with the call that made them), or hand-assembled
// opcodes for what Python would never write.
#include <catch2/catch.hpp>

#include <string>

#include "checkpoint/pickle_flatten.hpp"
#include "checkpoint/pickle_reader.hpp"
#include "core/errors.hpp"

namespace {

using metaguard::InputError;
using metaguard::PickleDocument;
using metaguard::PickleKind;
using nlohmann::json;

template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// Little builders for hand-assembled pickles.
std::string u32(uint32_t v) {
  std::string out;
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}
std::string u64(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}
std::string str(const std::string& text) { return "X" + u32(static_cast<uint32_t>(text.size())) + text; }
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string small_int(int v) { return std::string("K") + static_cast<char>(v); }
const std::string kProto2 = bytes("\x80\x02");

// A torch.save-style tensor: _rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel),
// offset, size, stride, False, OrderedDict()).
std::string tensor(const std::string& key, int numel, int offset, const std::string& size, const std::string& stride,
                   const std::string& storage_type = "FloatStorage") {
  return global("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") + global("torch", storage_type) +
         str(key) + str("cpu") + small_int(numel) + "tQ" + small_int(offset) + size + stride + "\x89" +
         global("collections", "OrderedDict") + ")Rt" + "R";
}
std::string tuple1(int a) { return small_int(a) + "\x85"; }
std::string tuple2(int a, int b) { return small_int(a) + small_int(b) + "\x86"; }

PickleDocument parse(const std::string& data) { return metaguard::read_pickle(data, "test.pt"); }
metaguard::FlatPickle flat(const std::string& data) {
  PickleDocument document = parse(data);
  return metaguard::flatten_pickle(document, "test.pt");
}

std::string error_of(const std::string& data) {
  try {
    flat(data);
  } catch (const InputError& error) {
    return error.what();
  }
  return "(no error)";
}

// pickle.dumps({'a': 1, 'b': [1.5, None, True, False], 'c': 'x\u00e9',
//               'd': (-7, 300, 70000, -2**40, 2**62), 'e': {'n': {}}}, protocol=P)
const std::string kPlainP2 = bytes(
    "\x80\x02\x7d\x71\x00\x28\x58\x01\x00\x00\x00\x61\x71\x01\x4b\x01\x58\x01\x00\x00\x00\x62\x71\x02\x5d\x71\x03"
    "\x28\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x4e\x88\x89\x65\x58\x01\x00\x00\x00\x63\x71\x04\x58\x03\x00\x00\x00"
    "\x78\xc3\xa9\x71\x05\x58\x01\x00\x00\x00\x64\x71\x06\x28\x4a\xf9\xff\xff\xff\x4d\x2c\x01\x4a\x70\x11\x01\x00"
    "\x8a\x06\x00\x00\x00\x00\x00\xff\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x74\x71\x07\x58\x01\x00\x00\x00\x65"
    "\x71\x08\x7d\x71\x09\x58\x01\x00\x00\x00\x6e\x71\x0a\x7d\x71\x0b\x73\x75\x2e");
const std::string kPlainP4 = bytes(
    "\x80\x04\x95\x5c\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61\x94\x4b\x01\x8c\x01\x62\x94\x5d\x94\x28"
    "\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x4e\x88\x89\x65\x8c\x01\x63\x94\x8c\x03\x78\xc3\xa9\x94\x8c\x01\x64\x94"
    "\x28\x4a\xf9\xff\xff\xff\x4d\x2c\x01\x4a\x70\x11\x01\x00\x8a\x06\x00\x00\x00\x00\x00\xff\x8a\x08\x00\x00\x00"
    "\x00\x00\x00\x00\x40\x74\x94\x8c\x01\x65\x94\x7d\x94\x8c\x01\x6e\x94\x7d\x94\x73\x75\x2e");

const json kPlainJson = {
    {"a", 1},
    {"b", {1.5, nullptr, true, false}},
    {"c", "x\xc3\xa9"},
    {"d", {-7, 300, 70000, -1099511627776LL, 4611686018427387904LL}},
    {"e", {{"n", json::object()}}},
};

}  // namespace

TEST_CASE("checkpoint pickle: Python's protocol 2 and 4 pickles give the same values", "[checkpoint][pickle]") {
  for (const std::string* data : {&kPlainP2, &kPlainP4}) {
    auto result = flat(*data);
    CHECK(result.tensors.empty());
    // A root without tensors is one metadata value.
    CHECK(result.metadata == json{{"<root>", kPlainJson}});
  }
  CHECK(parse(kPlainP2).protocol == 2);
  CHECK(parse(kPlainP4).protocol == 4);
  std::string p5 = kPlainP4;
  p5[1] = 5;  // protocol 5 writes exactly these opcodes for these values
  CHECK(flat(p5).metadata == json{{"<root>", kPlainJson}});
}

TEST_CASE("checkpoint pickle: OrderedDict, bytes, sets and frozensets", "[checkpoint][pickle]") {
  // pickle.dumps(collections.OrderedDict([('x', 1), ('y', 2)]), protocol=2)
  auto od = parse(bytes("\x80\x02\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64"
                        "\x44\x69\x63\x74\x0a\x71\x00\x29\x52\x71\x01\x28\x58\x01\x00\x00\x00\x78\x71\x02\x4b\x01"
                        "\x58\x01\x00\x00\x00\x79\x71\x03\x4b\x02\x75\x2e"));
  const auto& root = od.value(od.root);
  CHECK(root.kind == PickleKind::Dict);
  CHECK(root.ordered);
  CHECK(od.items(root).size() == 4);

  // protocol 3+ bytes (SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8), EMPTY_SET + ADDITEMS, FROZENSET.
  std::string data = bytes("\x80\x04}(") + str("short") + "C\x03" + "abc" + str("long") + "B" + u32(300) +
                     std::string(300, 'x') + str("eight") + bytes("\x8e") + u64(2) + "hi" + str("array") +
                     bytes("\x96") + u64(1) + "z" + str("set") + bytes("\x8f(K\x00K\x01\x90") + str("frozen") +
                     bytes("(K\x03\x91") + "u.";
  auto result = flat(data);
  CHECK(result.metadata["<root>"] == json{{"short", "<3 bytes>"}, {"long", "<300 bytes>"}, {"eight", "<2 bytes>"},
                                          {"array", "<1 bytes>"}, {"set", {0, 1}}, {"frozen", {3}}});
}

TEST_CASE("checkpoint pickle: integers wider than 64 bits are refused", "[checkpoint][pickle]") {
  // pickle.dumps(2**64, protocol=2)
  auto message = error_of(bytes("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01\x2e"));
  CHECK_THAT(message, Catch::Contains("wider than 64 bits"));
  CHECK(flat(kProto2 + bytes("\x8a\x00.")).metadata["<root>"] == 0);       // LONG1 of length 0 is 0
  CHECK(flat(kProto2 + bytes("\x8a\x01\xff.")).metadata["<root>"] == -1);  // sign-extended
  CHECK(flat(kProto2 + bytes("\x8b\x02\x00\x00\x00\x00\x80.")).metadata["<root>"] == -32768);  // LONG4
}

TEST_CASE("checkpoint pickle: only allowed globals; nothing is ever called", "[checkpoint][pickle]") {
  // What os.system pickles as, via GLOBAL and via STACK_GLOBAL.
  std::string system_call = kProto2 + global("posix", "system") + str("touch /tmp/x") + "\x85R.";
  CHECK(error_of(system_call) ==
        "'test.pt': refuses global 'posix.system' in data.pkl (only tensor, storage, dtype and container "
        "globals are allowed)");
  std::string stack_global = bytes("\x80\x04") + "\x8c\x08" + "builtins" + "\x8c\x04" + "eval" + "\x93" + ".";
  CHECK_THAT(error_of(stack_global), Catch::Contains("refuses global 'builtins.eval'"));
  // pickle.dumps(b'abc', protocol=2) calls _codecs.encode: refused like any other function.
  CHECK_THAT(error_of(bytes("\x80\x02\x63\x5f\x63\x6f\x64\x65\x63\x73\x0a\x65\x6e\x63\x6f\x64\x65\x0a\x71\x00\x58"
                            "\x03\x00\x00\x00\x61\x62\x63\x71\x01\x58\x06\x00\x00\x00\x6c\x61\x74\x69\x6e\x31\x71"
                            "\x02\x86\x71\x03\x52\x71\x04\x2e")),
             Catch::Contains("refuses global '_codecs.encode'"));
  // Quantized storages are not tensors metaguard reads.
  CHECK_THAT(error_of(kProto2 + global("torch", "QInt8Storage") + "."), Catch::Contains("'torch.QInt8Storage'"));
  // A control character in a global's name is escaped, keeping the message on one line.
  CHECK_THAT(error_of(kProto2 + "cos\x01\nsystem\n."), Catch::Contains("'os\\x01.system'"));
  // An allowed global that is not a function cannot be called.
  CHECK_THAT(error_of(kProto2 + global("torch", "float32") + ")R."), Catch::Contains("not a function"));
}

TEST_CASE("checkpoint pickle: opcodes torch.save never writes are refused by name", "[checkpoint][pickle]") {
  // pickle.dumps({'a': 1}, protocol=0): text opcodes.
  CHECK_THAT(error_of(bytes("\x28\x64\x70\x30\x0a\x56\x61\x0a\x70\x31\x0a\x49\x31\x0a\x73\x2e")),
             Catch::Contains("text opcode PUT"));
  CHECK_THAT(error_of(kProto2 + global("collections", "OrderedDict") + ")\x81."), Catch::Contains("NEWOBJ"));
  CHECK_THAT(error_of(kProto2 + "(i" + "os\nsystem\n."), Catch::Contains("INST"));
  CHECK_THAT(error_of(kProto2 + "\x82\x01."), Catch::Contains("extension registry"));
  CHECK_THAT(error_of(bytes("\x80\x05\x97.")), Catch::Contains("out-of-band"));
  CHECK_THAT(error_of(kProto2 + "Pfoo\n."), Catch::Contains("PERSID"));
  CHECK_THAT(error_of(kProto2 + "\xff."), Catch::Contains("unknown pickle opcode 0xff"));
  CHECK_THAT(error_of(bytes("\x80\x06N.")), Catch::Contains("protocol 6"));
}

TEST_CASE("checkpoint pickle: malformed streams fail with the byte position", "[checkpoint][pickle]") {
  CHECK(error_of(kProto2 + "0.") == "'test.pt': data.pkl, byte 2: pops to a MARK that was never set (malformed pickle)");
  CHECK_THAT(error_of(kProto2 + "h\x05."), Catch::Contains("memo entry 5, which was never stored"));
  CHECK_THAT(error_of(kProto2 + "N"), Catch::Contains("ends without the STOP opcode"));
  CHECK_THAT(error_of(kProto2 + "(K\x01" "a."), Catch::Contains("empty stack"));  // APPEND below a MARK
  CHECK_THAT(error_of(kProto2 + "}K\x01" "a."), Catch::Contains("APPEND on a value of the wrong type"));
  CHECK_THAT(error_of(kProto2 + "}(K\x01u."), Catch::Contains("odd number"));
  CHECK_THAT(error_of(kProto2 + bytes("X\x02\x00\x00\x00\xc3\x28.")), Catch::Contains("not valid UTF-8"));
  CHECK_THAT(error_of(kProto2 + bytes("X\x03\x00\x00\x00\xed\xa0\x80.")), Catch::Contains("not valid UTF-8"));  // surrogate
  CHECK_THAT(error_of(kProto2 + "}N" + "b."), Catch::Contains("BUILD on something other than an OrderedDict"));
  // Every proper prefix of a valid pickle is refused cleanly.
  for (size_t length = 0; length < kPlainP2.size(); ++length) {
    CHECK_THAT(error_of(kPlainP2.substr(0, length)), Catch::StartsWith("'test.pt': data.pkl"));
  }
}

TEST_CASE("checkpoint pickle: length fields are checked before allocating", "[checkpoint][pickle]") {
  // Each claims far more than the input holds; none may allocate that much.
  CHECK_THAT(error_of(kProto2 + "X" + u32(0xffffffff) + "ab."), Catch::Contains("claims 4294967295 bytes where 3 remain"));
  CHECK_THAT(error_of(bytes("\x80\x04\x8d") + u64(1ULL << 62) + "abc."), Catch::Contains("claims 4611686018427387904 bytes"));
  CHECK_THAT(error_of(bytes("\x80\x04\x8e") + u64(~0ULL) + "."), Catch::Contains("bytes where"));
  CHECK_THAT(error_of(bytes("\x80\x04\x95") + u64(1ULL << 60) + "N."), Catch::Contains("FRAME"));
  CHECK_THAT(error_of(kProto2 + "\x8b" + u32(0x7fffffff) + "."), Catch::Contains("claims 2147483647 bytes"));
  CHECK_THAT(error_of(kProto2 + "T" + u32(0x80000000) + "."), Catch::Contains("negative length"));
  CHECK_THAT(error_of(kProto2 + "r" + u32(0xffffffff) + "."), Catch::Contains("empty stack"));
}

TEST_CASE("checkpoint pickle: self-containing, deep and exploding structures are refused", "[checkpoint][pickle]") {
  // l = []; l.append(l); pickle.dumps(l, protocol=2)
  CHECK_THAT(error_of(bytes("\x80\x02\x5d\x71\x00\x68\x00\x61\x2e")), Catch::Contains("inside itself"));

  std::string deep = kProto2 + std::string(150, ']') + std::string(149, 'a') + ".";
  CHECK_THAT(error_of(deep), Catch::Contains("more than 100 levels deep"));
  std::string fine = kProto2 + std::string(90, ']') + std::string(89, 'a') + ".";
  CHECK_NOTHROW(flat(fine));

  // L0 = []; Li = [L(i-1), L(i-1)]: 2^40 paths through 120 opcodes.
  std::string dag = kProto2 + "]q" + std::string(1, '\0');
  for (int i = 1; i <= 40; ++i) {
    dag += "](h" + std::string(1, static_cast<char>(i - 1)) + "h" + std::string(1, static_cast<char>(i - 1)) +
           "eq" + std::string(1, static_cast<char>(i));
  }
  dag += ".";
  CHECK_THAT(error_of(dag), Catch::Contains("refers to the same containers so often"));
}

TEST_CASE("checkpoint pickle: tensors are named by their flattened keys", "[checkpoint][pickle]") {
  // {"model": OrderedDict(w=tensor), "opt": {"state": {0: {"m": tensor}}, "lr": ...}, "step": 7,
  //  "list": [tensor, 3], True: tensor, None: tensor}
  std::string data = kProto2 + "}(" + str("model") + global("collections", "OrderedDict") + ")R(" + str("w") +
                     tensor("0", 6, 0, tuple2(2, 3), tuple2(3, 1)) + "u" + str("opt") + "}(" + str("state") +
                     bytes("}(K\x00}(") + str("m") + tensor("1", 4, 1, tuple1(3), tuple1(1)) + "uuu" + str("step") +
                     small_int(7) + str("list") + "](" + tensor("2", 1, 0, ")", ")") + small_int(3) + "e" +
                     "\x88" + tensor("3", 1, 0, ")", ")") + "N" + tensor("4", 1, 0, ")", ")") + "u.";
  auto document = parse(data);
  auto result = metaguard::flatten_pickle(document, "test.pt");
  std::vector<std::string> names;
  for (const auto& entry : result.tensors) names.push_back(entry.name);
  CHECK(names == std::vector<std::string>{"model.w", "opt.state.0.m", "list.0", "True", "None"});
  CHECK(result.metadata == json{{"step", 7}, {"list.1", 3}});
  const auto& m = document.tensors[result.tensors[1].tensor];
  CHECK(m.dtype == "float32");
  CHECK(m.storage_offset == 1);
  CHECK(m.shape == std::vector<int64_t>{3});
  CHECK(document.storages[*m.storage].key == "1");
  CHECK(document.storages[*m.storage].numel == 4);

  // A lone tensor is the root.
  auto root = flat(kProto2 + tensor("0", 2, 0, tuple1(2), tuple1(1)) + ".");
  REQUIRE(root.tensors.size() == 1);
  CHECK(root.tensors[0].name == "<root>");
}

TEST_CASE("checkpoint pickle: meta tensors, parameters, dtype aliases and torch.Size", "[checkpoint][pickle]") {
  std::string data = kProto2 + "}(" + str("meta") + global("torch._utils", "_rebuild_meta_tensor_no_storage") + "(" +
                     global("torch", "half") + tuple2(2, 3) + tuple2(3, 1) + "\x89t" + "R" + str("param") +
                     global("torch._utils", "_rebuild_parameter") + "(" +
                     tensor("0", 2, 0, global("torch", "Size") + "K\x02\x85\x85R", tuple1(1), "LongStorage") +
                     "\x88" + global("collections", "OrderedDict") + ")R" + "tR" + "u.";
  auto document = parse(data);
  auto result = metaguard::flatten_pickle(document, "test.pt");
  REQUIRE(result.tensors.size() == 2);
  const auto& meta = document.tensors[result.tensors[0].tensor];
  CHECK(meta.dtype == "float16");
  CHECK_FALSE(meta.storage.has_value());
  CHECK(meta.shape == std::vector<int64_t>{2, 3});
  const auto& param = document.tensors[result.tensors[1].tensor];
  CHECK(param.dtype == "int64");
  CHECK(param.parameter);
  CHECK(param.requires_grad);
  CHECK(param.shape == std::vector<int64_t>{2});
}

TEST_CASE("checkpoint pickle: malformed rebuild calls and persistent ids", "[checkpoint][pickle]") {
  auto rebuild = [](const std::string& args) {
    return kProto2 + global("torch._utils", "_rebuild_tensor_v2") + "(" + args + "tR.";
  };
  std::string pid = "(" + str("storage") + global("torch", "FloatStorage") + str("0") + str("cpu") + small_int(4) + "tQ";
  CHECK_THAT(error_of(rebuild(pid + small_int(0))), Catch::Contains("has 2 arguments"));
  CHECK_THAT(error_of(rebuild(small_int(0) + small_int(0) + ")" + ")" + "\x89" + "N")),
             Catch::Contains("first argument is not a storage"));
  CHECK_THAT(error_of(rebuild(pid + small_int(0) + tuple2(2, 2) + tuple1(1) + "\x89N")),
             Catch::Contains("size has 2 dims but stride has 1"));
  CHECK_THAT(error_of(rebuild(pid + str("0") + tuple1(2) + tuple1(1) + "\x89N")),
             Catch::Contains("storage_offset is not an integer"));
  CHECK_THAT(error_of(kProto2 + "(" + str("module") + global("torch", "FloatStorage") + str("0") + str("cpu") +
                      small_int(4) + "tQ."),
             Catch::Contains("not a storage"));
  CHECK_THAT(error_of(kProto2 + "(" + str("storage") + global("torch", "float32") + str("0") + str("cpu") +
                      small_int(4) + "tQ."),
             Catch::Contains("not a storage type"));
  CHECK_THAT(error_of(kProto2 + "(" + str("storage") + global("torch", "FloatStorage") + str("0") + str("cpu") +
                      "J\xff\xff\xff\xff" + "tQ."),
             Catch::Contains("element count is not a non-negative integer"));
  CHECK_THAT(error_of(kProto2 + "(" + str("storage") + global("torch", "FloatStorage") + str("a\nb") + str("cpu") +
                      small_int(4) + "tQ."),
             Catch::Contains("storage key 'a\\x0ab'"));
  CHECK_THAT(error_of(kProto2 + "Q."), Catch::Contains("pops an empty stack"));
}

TEST_CASE("checkpoint pickle: odd keys and repeated names", "[checkpoint][pickle]") {
  std::string t = tensor("0", 1, 0, ")", ")");
  CHECK_THAT(error_of(kProto2 + "}(" + str("a.b") + t + str("a") + "}(" + str("b") + t + "uu."),
             Catch::Contains("two tensors are named 'a.b'"));
  CHECK_THAT(error_of(kProto2 + "}(" + small_int(1) + small_int(2) + "\x86" + t + "u."),
             Catch::Contains("not text, an integer, a bool or None names tensors"));
  // A tuple key over metadata only is harmless.
  CHECK(flat(kProto2 + "}(" + small_int(1) + small_int(2) + "\x86" + small_int(5) + "u.").metadata ==
        json{{"<root>", {{"<key>", 5}}}});
}
