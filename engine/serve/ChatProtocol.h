// The server side of the OpenAI chat-completions API, as `vqa serve` speaks it: a request's
// JSON checked and turned into the engine's Request (images from base64 `data:` URLs, decoded
// with the engine's pixel limit; videos from video_url parts, written to temporary files for
// the video decoder), and the answer written back as one completion or as stream
// chunks. The extension field "vqa": {"attention": true} asks for each token's attention
// grids, which the chunks then carry in "vqa": {"attention": [...]} (the desktop app draws
// them as with a local model). No LibTorch, no HTTP: engine/serve/ChatServer does the serving.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/Types.h"

namespace vqa::serve {

// A request refused: the HTTP status and the OpenAI-style error it answers with.
struct ProtocolError : std::runtime_error {
    ProtocolError(int status, std::string type, const std::string& message)
        : std::runtime_error(message), status(status), type(std::move(type)) {}
    int status;
    std::string type; // "invalid_request_error", "authentication_error", "not_found_error", ...
};

struct ProtocolLimits {
    int max_tokens = 4096;                   // largest max_tokens a request may ask for
    std::int64_t max_image_pixels = 40'000'000;
    int max_images = 16;
    int max_videos = 4;
};

// A file written for the length of one call (a video_url's bytes: the video decoder reads
// files), removed when the last holder lets go.
struct UploadedFile {
    explicit UploadedFile(std::string path) : path(std::move(path)) {}
    UploadedFile(const UploadedFile&) = delete;
    UploadedFile& operator=(const UploadedFile&) = delete;
    ~UploadedFile();
    const std::string path;
};

struct ChatCall {
    Request request;
    // The request's videos (video_url parts with base64 data URLs, as vLLM takes them), in the
    // order of Request::videos; the files go with the last copy of the call.
    std::vector<std::shared_ptr<const UploadedFile>> uploads;
    std::string model;  // as the request named it ("" when absent)
    bool stream = false;
    bool attention = false;  // "vqa": {"attention": true}
};

// Throws ProtocolError(400, ...) naming the field that is wrong.
ChatCall parseChatRequest(const nlohmann::json& body, const ProtocolLimits& limits);

// {"error": {"message", "type", "code"}}
nlohmann::json errorBody(int status, const std::string& type, const std::string& message);

// "stop" or "length" (an error or a cancel has no finish reason of its own: "stop").
const char* finishReason(StopReason stop);

// The whole answer as one chat.completion object.
nlohmann::json completionBody(const std::string& id, const std::string& model, std::int64_t created,
                              const GenerationResult& result);

// One chat.completion.chunk: `delta` ({"role": ...} or {"content": ...} or {}), the finish
// reason (null when empty), and the token's attention grids when asked for.
nlohmann::json chunkBody(const std::string& id, const std::string& model, std::int64_t created,
                         const nlohmann::json& delta, const std::string& finish_reason,
                         const std::vector<HeatmapGrid>* attention = nullptr);

// Attention grids as JSON and back (the client side reads what the server writes).
nlohmann::json gridsJson(const std::vector<HeatmapGrid>& grids);
std::vector<HeatmapGrid> gridsFromJson(const nlohmann::json& j);

}  // namespace vqa::serve
