// Value types that cross the boundary between the engine and its users (UI, CLI, tests).
// Plain C++ only: no LibTorch, no Qt, so ui/ and app/ can include this freely.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vqa {

// An image in memory as 8-bit RGB, row-major, width*height*3 bytes.
struct RgbImage {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;
    bool empty() const { return width <= 0 || height <= 0; }
};

enum class Role { System, User, Assistant };

// One piece of a turn's content: text, or the place where an image or a video goes (the
// next of Request::images or Request::videos, in the conversation's order).
struct ContentPart {
    enum class Kind { Text, Image, Video } kind = Kind::Text;
    std::string text;  // Kind::Text only
};

// A video in a conversation: the engine reads it from its file (engine/vision/VideoFile.h) at
// the frames the model's family samples (SmolVLM2: its processor's frames per second, up to
// its frame limit), once per key: a follow-up question neither decodes nor encodes it again.
struct VideoInput {
    std::string path;
    std::string key;  // names the file's content for caching: same key, same video
};

// The frames of a video the model saw, for the window's timeline and for explanations.
struct VideoFrames {
    int video = 0;                 // index into Request::videos
    double duration_s = 0;
    std::vector<std::int64_t> indices;  // frame numbers in the file
    std::vector<double> times_s;        // their times
};

struct Turn {
    Role role = Role::User;
    std::vector<ContentPart> content;
};

using Conversation = std::vector<Turn>;

struct GenerationParams {
    int max_new_tokens = 256;
    float temperature = 0.0f;  // 0 means greedy
    int top_k = 0;             // 0: off
    float top_p = 1.0f;        // 1: off
    float repetition_penalty = 1.0f;
    std::uint64_t seed = 0;
    bool ignore_eos = false;
    // Words the answer must not contain (engine/generation/BannedWords.h); a local model only.
    std::vector<std::string> banned_words;
    // The answer begins with this text, as if the model had written it (transformers'
    // continue_final_message); the result holds what follows it. A local model only.
    std::string answer_start;
};

struct ExplainParams {
    bool capture_attention = false;
    // Which attention to map; -1 means the default (DESIGN.md: mean over heads of the
    // upper half of the decoder's layers). Layers are 0-based, the range is inclusive.
    int layer_begin = -1;
    int layer_end = -1;
    int head = -1;          // -1: all heads, reduced by head_max; >= 0: that head only
    bool head_max = false;  // with head == -1: max over heads instead of the mean
};

enum class DevicePreference { Auto, Cpu, Cuda };

struct LoadOptions {
    DevicePreference device = DevicePreference::Auto;
    // auto, float32, bfloat16, float16; or int8 / int4 (q8_0 / q4_0; also q4_1): the decoder's
    // weights quantized as they load; or fast: a float32 decoder (its prefill's products in float16 where that is the CPU's fastest) behind a bfloat16 vision tower
    // (engine/LoadPlan.h)
    std::string dtype = "auto";
    int threads = 0;             // 0: library default
};

// An OpenAI-compatible chat-completions server (vLLM, llama-server, Ollama, LM Studio, or
// `vqa serve`) to answer with instead of a local model (Engine::connect).
struct RemoteServer {
    std::string base_url;  // http(s)://host:port, with or without a trailing /v1
    std::string api_key;   // sent as a bearer token; empty: none. Never logged or shown.
    std::string model;     // one of the server's /v1/models ids; empty: its only one
    double connect_timeout_s = 10;
    // An answer that sends nothing for this long is given up (a big model's first token on a
    // busy server can take a while).
    double stall_timeout_s = 120;
    // Set by the client when the server says it is VQA Studio's (`vqa serve`): then answers
    // asked with attention capture come with each token's attention grids.
    bool sends_attention = false;
};

// A grid of attention (or relevancy) values over one image region: a tile or the global view,
// or one frame of a video. `values` is rows*cols, row-major. The rectangle is in the original
// image's (or video frame's) pixels. Which picture it lies on: `image` (an index into
// Request::images), or `video` and `frame` (an index into Request::videos and the frame's
// place among those the model saw, at `time_s` seconds into the video).
struct HeatmapGrid {
    int rows = 0;
    int cols = 0;
    std::vector<float> values;
    double x = 0, y = 0, width = 0, height = 0;
    bool global_view = false;
    int image = 0;   // -1 for a video's frame
    int video = -1;  // -1 for an image
    int frame = -1;
    double time_s = 0;
};

// One attention head's map for some answer tokens, with what sets the head apart: the share of
// its attention that falls on the image tokens (the rest goes to the text) and the entropy of
// that image attention (nats; low: it looks at a few places, log(tokens): everywhere alike).
struct HeadMap {
    int layer = 0;
    int head = 0;
    float image_share = 0;
    float entropy = 0;
    std::vector<HeatmapGrid> grids;
};

// One generated token, as it streams out.
struct TokenEvent {
    int index = 0;          // 0-based position in the answer
    std::int32_t id = 0;    // token id
    std::string text;       // the new text this token completes (may be empty mid-character)
    std::vector<HeatmapGrid> attention;  // filled when attention capture is on
};

struct Timings {
    double preprocess_ms = 0;
    double encode_ms = 0;
    double prefill_ms = 0;
    double first_token_ms = 0;  // from submit to the first token
    double decode_ms = 0;
    int prompt_tokens = 0;
    int image_tokens = 0;   // of prompt_tokens, the images' (encoded now or before)
    int cached_tokens = 0;  // prompt tokens whose keys and values the previous turn left
    int new_tokens = 0;
    double tokensPerSecond() const { return decode_ms > 0 && new_tokens > 1 ? (new_tokens - 1) * 1000.0 / decode_ms : 0.0; }
};

enum class StopReason { EndOfTurn, MaxTokens, Cancelled, Error };

// A region of an image that an answer names (grounding): Qwen2.5-VL's JSON boxes
// (`bbox_2d`, `point_2d`) and Qwen2-VL's `<|box_start|>(x1,y1),(x2,y2)<|box_end|>`, mapped from
// the model's coordinate space onto the original image (engine/explain/Grounding.h).
struct GroundingBox {
    int image = 0;                          // index into Request::images
    std::string label;                      // what the model called it (UTF-8); may be empty
    double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // original-image pixels: x1 <= x2, y1 <= y2, inside
    bool point = false;    // a point (point_2d): (x1, y1) == (x2, y2)
    bool clipped = false;  // the model's box reached outside the image and was clamped to it
    int text_begin = 0;    // the bytes of the answer's text that name it: [begin, end)
    int text_end = 0;
    int token_begin = 0;  // the answer's tokens that name it: [begin, end) (TokenEvent::index)
    int token_end = 0;
};

struct GenerationResult {
    std::string text;
    std::vector<std::int32_t> token_ids;
    StopReason stop = StopReason::EndOfTurn;
    Timings timings;
    std::string error;
    // With StopReason::Error: the request cannot be answered as it was asked (a damaged image,
    // a video to a model without videos, more tokens than the context holds), which the asker
    // can change; false for a failure while answering (memory, the engine itself).
    bool refused = false;
    std::vector<GroundingBox> boxes;  // the boxes the answer names, in the order it names them
    std::vector<VideoFrames> video_frames;  // per video of the request: the frames the model saw
};

struct ModelInfo {
    std::string family;      // e.g. "idefics3"
    std::string name;        // folder name
    std::string path;
    std::int64_t parameters = 0;
    std::string dtype;
    std::string vision_dtype;  // what the vision tower runs in (bfloat16 under "fast" and quantized)
    std::string quantization;  // "" or the decoder's weight format: "q8_0", "q4_0", "q4_1"
    std::string quantized_by;  // "awq": the checkpoint came 4-bit (AWQ); "": quantized here, or not at all
    std::string device;
    std::int64_t weight_bytes = 0;  // the weights as they run (dtype, quantization), by the load plan
    // A thinking model (its chat template opens the answer with <think>): an answer starts
    // with the model's reasoning, which ends at "</think>".
    bool reasons_first = false;
    // Answers come from a server (Engine::connect): path is its base URL, name its model id;
    // no attention, relevancy or token ids come back from a third-party server.
    bool remote = false;
    bool remote_attention = false;  // the server sends attention (a VQA Studio server)
};

struct Progress {
    std::string stage;  // "loading weights", "encoding image", ...
    double fraction = 0;  // 0..1, or negative when unknown
};

// How much of an image the model sees: the window's "detail" setting. A family whose image
// token count follows the image's size resizes an image so it makes at most max_image_tokens
// tokens: fewer pixels, a faster answer, less to read in small print. Qwen2-VL, Qwen2.5-VL and
// Qwen3-VL lower their pixel bound; Idefics3/SmolVLM the longest edge (fewer tiles, down to
// the global view alone). LLaVA-1.5 (always 576) ignores it.
struct ImageOptions {
    int max_image_tokens = 0;  // 0: the model's own limit
    bool operator==(const ImageOptions&) const = default;
};

// One question to the engine. `images` are the images of the conversation, in the order
// of its ContentPart::Image parts; `image_keys` name them for caching (same key, same image).
// `videos` are its videos, in the order of its ContentPart::Video parts.
struct Request {
    Conversation conversation;
    std::vector<std::shared_ptr<const RgbImage>> images;
    std::vector<std::string> image_keys;
    std::vector<VideoInput> videos;
    ImageOptions image_options;
    GenerationParams generation;
    ExplainParams explain;
};

}  // namespace vqa
