#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/base/Error.h"
#include "engine/io/SafetensorsFile.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using vqa::SafetensorsFile;
using vqa::test::freshDir;
using vqa::test::writeRawSafetensors;

namespace {

// Opening must fail with a vqa::Error whose message names the file and contains `needle`.
void expectOpenError(const fs::path& path, const std::string& needle) {
    try {
        SafetensorsFile::open(path.string());
        ADD_FAILURE() << "opening " << path << " succeeded; expected an error with '" << needle
                      << "'";
    } catch (const vqa::Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
        EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
}

std::vector<std::uint8_t> zeros(std::size_t n) {
    return std::vector<std::uint8_t>(n, 0);
}

} // namespace

TEST(Safetensors, ReadsTensorsWithoutCopying) {
    auto dir = freshDir("st-valid");
    auto path = dir / "a.safetensors";
    vqa::test::writeF32Safetensors(
        path, {{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"b", {3}, {-1, 0.5f, 7}}, {"s", {}, {42}}});
    auto file = SafetensorsFile::open(path.string());
    EXPECT_EQ(file->names(), (std::vector<std::string>{"w", "b", "s"}));
    EXPECT_EQ(file->parameterCount(), 10);
    EXPECT_EQ(file->dataBytes(), 40u);
    auto w = file->tensor("w");
    EXPECT_EQ(w.sizes(), (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(w.dtype(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(w, torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).reshape({2, 3})));
    EXPECT_FLOAT_EQ(file->tensor("s").item<float>(), 42.f);
    EXPECT_EQ(file->tensor("s").dim(), 0);
    // A view, not a copy: the same bytes each time.
    EXPECT_EQ(file->tensor("b").data_ptr(), file->tensor("b").data_ptr());
    EXPECT_FALSE(file->contains("nope"));
    EXPECT_THROW(file->tensor("nope"), vqa::Error);
    fs::remove_all(dir);
}

TEST(Safetensors, TensorOutlivesTheFileObject) {
    auto dir = freshDir("st-lifetime");
    auto path = dir / "a.safetensors";
    vqa::test::writeF32Safetensors(path, {{"w", {4}, {1, 2, 3, 4}}});
    torch::Tensor w;
    {
        auto file = SafetensorsFile::open(path.string());
        w = file->tensor("w");
    }
    EXPECT_FLOAT_EQ(w[3].item<float>(), 4.f); // mapping still alive
    auto doubled = w.to(torch::kFloat64) * 2; // what models do: convert, never write in place
    EXPECT_DOUBLE_EQ(doubled[3].item<double>(), 8.0);
    fs::remove_all(dir);
}

TEST(Safetensors, PopulatesTheTensorsStillInUse) {
    // After loading, weights used in place are mapped in one go; released tensors (the model
    // copied them) and those the caller does not want stay out.
    auto dir = freshDir("st-populate");
    auto path = dir / "a.safetensors";
    vqa::test::writeF32Safetensors(
        path, {{"embed_tokens.weight", {4}, {1, 2, 3, 4}}, {"q", {2}, {5, 6}}, {"k", {3}, {7, 8, 9}}});
    auto file = SafetensorsFile::open(path.string());
    auto all = [](const std::string&) { return true; };
    EXPECT_EQ(file->populate(all), 36u);
    file->release("q");
    EXPECT_EQ(file->populate(all), 28u);
    EXPECT_EQ(file->populate([](const std::string& n) { return n != "embed_tokens.weight"; }), 12u);
    EXPECT_FLOAT_EQ(file->tensor("q")[1].item<float>(), 6.f); // released bytes stay readable
    fs::remove_all(dir);
}

TEST(Safetensors, OtherDtypesAndMetadata) {
    auto dir = freshDir("st-dtypes");
    auto path = dir / "a.safetensors";
    // BF16 1.0 = 0x3F80, F16 1.0 = 0x3C00, I64 -3, U8 7, BOOL 1
    std::vector<std::uint8_t> data = {0x80, 0x3F, 0x00, 0x3C, 0, 0, 0, 0};
    const std::int64_t m3 = -3;
    data.resize(16);
    std::memcpy(data.data() + 8, &m3, 8);
    data.push_back(7);
    data.push_back(1);
    std::string header = R"({"__metadata__":{"format":"pt"},)"
                         R"("bf":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                         R"("h":{"dtype":"F16","shape":[1],"data_offsets":[2,4]},)"
                         R"("i":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},)"
                         R"("u":{"dtype":"U8","shape":[1],"data_offsets":[16,17]},)"
                         R"("t":{"dtype":"BOOL","shape":[1],"data_offsets":[17,18]},)"
                         R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[18,18]}})";
    while (header.size() % 8)
        header += ' ';
    writeRawSafetensors(path, header, data);
    auto file = SafetensorsFile::open(path.string());
    EXPECT_EQ(file->metadata().at("format"), "pt");
    EXPECT_EQ(file->tensor("bf").dtype(), torch::kBFloat16);
    EXPECT_FLOAT_EQ(file->tensor("bf").to(torch::kFloat).item<float>(), 1.f);
    EXPECT_FLOAT_EQ(file->tensor("h").to(torch::kFloat).item<float>(), 1.f);
    EXPECT_EQ(file->tensor("i").item<std::int64_t>(), -3);
    EXPECT_EQ(file->tensor("u").item<std::uint8_t>(), 7);
    EXPECT_TRUE(file->tensor("t").item<bool>());
    EXPECT_EQ(file->tensor("e").numel(), 0);
    EXPECT_FALSE(file->contains("__metadata__"));
    fs::remove_all(dir);
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
    auto dir = freshDir("st-misaligned");
    auto path = dir / "a.safetensors";
    std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
    while ((8 + header.size()) % 4 != 0)
        header += ' ';
    std::vector<std::uint8_t> data(9, 0);
    float v[2] = {3.5f, -2.f};
    std::memcpy(data.data() + 1, v, 8);
    writeRawSafetensors(path, header, data);
    auto x = SafetensorsFile::open(path.string())->tensor("x");
    EXPECT_FLOAT_EQ(x[0].item<float>(), 3.5f);
    EXPECT_FLOAT_EQ(x[1].item<float>(), -2.f);
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, MissingFile) {
    auto dir = freshDir("st-missing");
    expectOpenError(dir / "none.safetensors", "cannot open");
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, ShorterThanTheLengthField) {
    auto dir = freshDir("st-short");
    auto path = dir / "a.safetensors";
    std::ofstream(path, std::ios::binary) << "abc";
    expectOpenError(path, "too short");
    std::ofstream(path, std::ios::binary | std::ios::trunc); // empty
    expectOpenError(path, "0 bytes long");
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, HeaderLengthBeyondTheFile) {
    auto dir = freshDir("st-hlen");
    auto path = dir / "a.safetensors";
    writeRawSafetensors(path, "{}", {}, 1000);
    expectOpenError(path, "header says it is 1000 bytes long");
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, HeaderLongerThanTheLimit) {
    auto dir = freshDir("st-hhuge");
    auto path = dir / "a.safetensors";
    const std::int64_t n = SafetensorsFile::kMaxHeaderBytes + 16;
    writeRawSafetensors(path, "{", {}, n);
    fs::resize_file(path, 8 + n); // sparse: cheap
    expectOpenError(path, "more than the limit");
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, HeaderNotJson) {
    auto dir = freshDir("st-json");
    auto path = dir / "a.safetensors";
    writeRawSafetensors(path, "{\"x\": [1, 2", zeros(4));
    expectOpenError(path, "not valid JSON");
    writeRawSafetensors(path, "[1,2,3]", {});
    expectOpenError(path, "not an object");
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, EntryFieldsMissingOrWrong) {
    auto dir = freshDir("st-fields");
    auto path = dir / "a.safetensors";
    auto d = zeros(16);
    writeRawSafetensors(path, R"({"x":{"shape":[1],"data_offsets":[0,4]}})", d);
    expectOpenError(path, "tensor 'x' has no \"dtype\"");
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", d);
    expectOpenError(path, "tensor 'x' has no \"shape\"");
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","shape":[1]}})", d);
    expectOpenError(path, "tensor 'x' has no \"data_offsets\"");
    writeRawSafetensors(path, R"({"x":3})", d);
    expectOpenError(path, "tensor 'x' is not described");
    writeRawSafetensors(path, R"({"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", d);
    expectOpenError(path, "dtype 'Q4'");
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", d);
    expectOpenError(path, "not a non-negative integer");
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", d);
    expectOpenError(path, "not a non-negative integer");
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", d);
    expectOpenError(path, "not two non-negative integers");
    writeRawSafetensors(
        path, R"({"__metadata__":[1],"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d);
    expectOpenError(path, "__metadata__");
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, OffsetsBackwardsPastTheEndWrongSizeOrOverlapping) {
    auto dir = freshDir("st-offsets");
    auto path = dir / "model.safetensors";
    auto d = zeros(16);
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", d);
    expectOpenError(path, "end before they begin");
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", d);
    expectOpenError(path, "tensor 'x' data_offsets [0,32] run past the end of the file (16 bytes");
    expectOpenError(path, "truncated");
    writeRawSafetensors(path, R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", d);
    expectOpenError(path, "shape [2,2] and dtype F32, which take 16 bytes");
    writeRawSafetensors(
        path, R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d);
    expectOpenError(path, "more than 2^64");
    writeRawSafetensors(path,
                        R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        d);
    expectOpenError(path, "overlap");
    fs::remove_all(dir);
}

TEST(SafetensorsErrors, TruncatedDownload) {
    // A valid file cut short: what an interrupted download leaves.
    auto dir = freshDir("st-trunc");
    auto path = dir / "model.safetensors";
    vqa::test::writeF32Safetensors(path, {{"w", {64}, std::vector<float>(64, 1.f)}});
    fs::resize_file(path, fs::file_size(path) - 10);
    expectOpenError(path, "run past the end of the file");
    fs::remove_all(dir);
}

// A file written by the reference `safetensors` Python package (tests/reference/make_processor.py).
TEST(Safetensors, ReadsWhatThePythonPackageWrites) {
    auto path = vqa::test::referenceDir("processor") / "dtypes.safetensors";
    VQA_SKIP_UNLESS_EXISTS(path, "written by tests/reference/make_processor.py");
    auto file = SafetensorsFile::open(path.string());
    auto expect = torch::arange(12, torch::kFloat32).reshape({3, 4}) / 4;
    EXPECT_TRUE(torch::equal(file->tensor("f32"), expect));
    EXPECT_TRUE(torch::equal(file->tensor("bf16").to(torch::kFloat32), expect));
    EXPECT_TRUE(torch::equal(file->tensor("f16").to(torch::kFloat32), expect));
    EXPECT_TRUE(torch::equal(file->tensor("i64"), torch::arange(-3, 3, torch::kInt64)));
    EXPECT_EQ(file->metadata().at("written_by"), "make_processor.py");
}
