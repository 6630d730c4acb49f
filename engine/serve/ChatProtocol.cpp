#include "engine/serve/ChatProtocol.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>

#include <unistd.h>

#include "engine/net/Base64.h"
#include "engine/vision/ImageIO.h"
#include "models/base/Error.h"

namespace vqa::serve {
namespace {

[[noreturn]] void invalid(const std::string& message) {
    throw ProtocolError(400, "invalid_request_error", message);
}

Role roleNamed(const nlohmann::json& role, std::size_t index) {
    if (!role.is_string())
        invalid("messages[" + std::to_string(index) + "].role must be a string");
    const auto r = role.get<std::string>();
    if (r == "system" || r == "developer")
        return Role::System;
    if (r == "user")
        return Role::User;
    if (r == "assistant")
        return Role::Assistant;
    invalid("messages[" + std::to_string(index) + "].role '" + r + "' is not system, user or assistant");
}

// The bytes of a base64 data URL whose media type starts with `kind` ("image/", "video/"),
// and that media type.
std::vector<unsigned char> dataUrlBytes(const std::string& s, const std::string& where, const char* kind,
                                        std::string& media_type) {
    const auto comma = s.find(',');
    if (s.rfind("data:", 0) != 0 || comma == std::string::npos || comma < 12 ||
        s.compare(comma - 7, 7, ";base64") != 0)
        invalid(where + ": only base64 data URLs (data:" + kind + "...;base64,...) are accepted; this server "
                        "fetches nothing from other addresses");
    media_type = s.substr(5, comma - 7 - 5);
    auto bytes = net::base64Decode(std::string_view(s).substr(comma + 1));
    if (!bytes)
        invalid(where + ": the data URL is not valid base64");
    return std::move(*bytes);
}

// The URL string of an image_url or video_url part (`field`), given as {"url": ...} or bare.
std::string partUrl(const nlohmann::json& part, const char* field, const std::string& where) {
    const nlohmann::json value = part.contains(field) ? part[field] : nlohmann::json();
    const nlohmann::json url = value.is_object() && value.contains("url") ? value["url"] : value;
    if (!url.is_string())
        invalid(where + "." + field + ".url must be a string");
    return url.get<std::string>();
}

// The content key of a picture sent as data URL `url`: the same bytes, the same key (the
// engine encodes a picture it has seen once).
std::string dataUrlKey(const std::string& url) {
    return "data:" + std::to_string(std::hash<std::string>{}(url)) + ":" + std::to_string(url.size());
}

// An image_url part's image: a base64 data URL, decoded as the window decodes a file.
std::shared_ptr<const RgbImage> imageFrom(const nlohmann::json& part, const std::string& where,
                                          const ProtocolLimits& limits, std::string& s) {
    s = partUrl(part, "image_url", where);
    std::string media_type;
    const auto bytes = dataUrlBytes(s, where, "image/", media_type);
    ImageDecodeOptions options;
    options.max_pixels = limits.max_image_pixels;
    try {
        return std::make_shared<const RgbImage>(decodeImageBytes(bytes.data(), bytes.size(), where, options));
    } catch (const Error& e) {
        invalid(e.what());
    }
}

// A video_url part's video, written to a temporary file the call owns.
std::shared_ptr<const UploadedFile> videoFrom(const nlohmann::json& part, const std::string& where, std::string& s) {
    s = partUrl(part, "video_url", where);
    std::string media_type;
    const auto bytes = dataUrlBytes(s, where, "video/", media_type);
    if (media_type.rfind("video/", 0) != 0)
        invalid(where + ": a video_url must hold a video (data:video/...), not " + media_type);
    if (bytes.empty())
        invalid(where + ": the video is empty");
    // The decoder probes the content; the extension only helps it guess.
    const std::string sub = media_type.substr(6);
    const std::string ext = sub == "webm" ? ".webm" : sub == "quicktime" ? ".mov" : sub == "x-matroska" ? ".mkv"
                            : sub == "x-msvideo" || sub == "avi" ? ".avi" : ".mp4";
    std::string path = (std::filesystem::temp_directory_path() / ("vqa-serve-video-XXXXXX" + ext)).string();
    const int fd = ::mkstemps(path.data(), static_cast<int>(ext.size()));
    if (fd < 0)
        throw Error("the server could not write the request's video to a temporary file: " + std::string(std::strerror(errno)));
    auto file = std::make_shared<const UploadedFile>(path);  // removed with the call, whatever happens next
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n <= 0) {
            ::close(fd);
            throw Error("the server could not write the request's video to a temporary file: " + std::string(std::strerror(errno)));
        }
        written += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return file;
}

double numberField(const nlohmann::json& body, const char* name, double lo, double hi) {
    const auto& v = body[name];
    if (!v.is_number())
        invalid(std::string(name) + " must be a number");
    const double d = v.get<double>();
    if (!(d >= lo && d <= hi))
        invalid(std::string(name) + " must be between " + nlohmann::json(lo).dump() + " and " + nlohmann::json(hi).dump());
    return d;
}

} // namespace

UploadedFile::~UploadedFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
}

ChatCall parseChatRequest(const nlohmann::json& body, const ProtocolLimits& limits) {
    if (!body.is_object())
        invalid("the request body must be a JSON object");
    ChatCall call;
    if (body.contains("model") && !body["model"].is_null()) {
        if (!body["model"].is_string())
            invalid("model must be a string");
        call.model = body["model"].get<std::string>();
    }
    if (body.contains("stream") && !body["stream"].is_null()) {
        if (!body["stream"].is_boolean())
            invalid("stream must be true or false");
        call.stream = body["stream"].get<bool>();
    }
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
        invalid("messages must be a non-empty array");

    Request& request = call.request;
    const auto& messages = body["messages"];
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object())
            invalid(where + " must be an object");
        Turn turn;
        turn.role = roleNamed(m.contains("role") ? m["role"] : nlohmann::json(), i);
        const auto& content = m.contains("content") ? m["content"] : nlohmann::json();
        if (content.is_string()) {
            turn.content.push_back({ContentPart::Kind::Text, content.get<std::string>()});
        } else if (content.is_array()) {
            for (std::size_t k = 0; k < content.size(); ++k) {
                const auto& part = content[k];
                const std::string pwhere = where + ".content[" + std::to_string(k) + "]";
                if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
                    invalid(pwhere + " must be an object with a type");
                const auto type = part["type"].get<std::string>();
                if (type == "text") {
                    if (!part.contains("text") || !part["text"].is_string())
                        invalid(pwhere + ".text must be a string");
                    turn.content.push_back({ContentPart::Kind::Text, part["text"].get<std::string>()});
                } else if (type == "image_url") {
                    if (turn.role != Role::User)
                        invalid(pwhere + ": only user messages may hold images");
                    if (static_cast<int>(request.images.size()) >= limits.max_images)
                        invalid("at most " + std::to_string(limits.max_images) + " images per request");
                    std::string url;
                    request.images.push_back(imageFrom(part, pwhere, limits, url));
                    // The same image in two requests is encoded once (the engine keys its cache).
                    request.image_keys.push_back(dataUrlKey(url));
                    turn.content.push_back({ContentPart::Kind::Image, {}});
                } else if (type == "video_url") {
                    if (turn.role != Role::User)
                        invalid(pwhere + ": only user messages may hold videos");
                    if (static_cast<int>(request.videos.size()) >= limits.max_videos)
                        invalid("at most " + std::to_string(limits.max_videos) + " videos per request");
                    std::string url;
                    call.uploads.push_back(videoFrom(part, pwhere, url));
                    request.videos.push_back({call.uploads.back()->path, dataUrlKey(url)});
                    turn.content.push_back({ContentPart::Kind::Video, {}});
                } else {
                    invalid(pwhere + ".type '" + type + "' is not text, image_url or video_url");
                }
            }
        } else {
            invalid(where + ".content must be a string or an array of parts");
        }
        request.conversation.push_back(std::move(turn));
    }
    if (request.conversation.back().role != Role::User)
        invalid("the last message must be the user's");

    GenerationParams& g = request.generation;
    g.max_new_tokens = std::min(256, limits.max_tokens);
    for (const char* name : {"max_tokens", "max_completion_tokens"}) {
        if (!body.contains(name) || body[name].is_null())
            continue;
        if (!body[name].is_number_integer())
            invalid(std::string(name) + " must be an integer");
        const auto n = body[name].get<std::int64_t>();
        if (n < 1 || n > limits.max_tokens)
            invalid(std::string(name) + " must be between 1 and " + std::to_string(limits.max_tokens) +
                    " on this server");
        g.max_new_tokens = static_cast<int>(n);
    }
    if (body.contains("temperature") && !body["temperature"].is_null())
        g.temperature = static_cast<float>(numberField(body, "temperature", 0, 2));
    if (body.contains("top_p") && !body["top_p"].is_null())
        g.top_p = static_cast<float>(numberField(body, "top_p", 0, 1));
    if (body.contains("top_k") && !body["top_k"].is_null())
        g.top_k = static_cast<int>(numberField(body, "top_k", 0, 1e6));
    if (body.contains("repetition_penalty") && !body["repetition_penalty"].is_null())
        g.repetition_penalty = static_cast<float>(numberField(body, "repetition_penalty", 0.01, 10));
    if (body.contains("seed") && !body["seed"].is_null()) {
        if (!body["seed"].is_number_integer())
            invalid("seed must be an integer");
        g.seed = body["seed"].get<std::uint64_t>();
    }
    if (body.contains("ignore_eos") && body["ignore_eos"].is_boolean())
        g.ignore_eos = body["ignore_eos"].get<bool>();
    if (body.contains("n") && !body["n"].is_null() && body["n"] != 1)
        invalid("n must be 1: this server answers one choice");
    if (body.contains("vqa") && !body["vqa"].is_null()) {
        const auto& ext = body["vqa"];
        if (!ext.is_object())
            invalid("vqa must be an object, as {\"attention\": true}");
        if (ext.contains("attention")) {
            if (!ext["attention"].is_boolean())
                invalid("vqa.attention must be true or false");
            call.attention = ext["attention"].get<bool>();
        }
    }
    request.explain.capture_attention = call.attention;
    return call;
}

nlohmann::json errorBody(int status, const std::string& type, const std::string& message) {
    return {{"error", {{"message", message}, {"type", type}, {"code", status}}}};
}

const char* finishReason(StopReason stop) {
    return stop == StopReason::MaxTokens ? "length" : "stop";
}

nlohmann::json completionBody(const std::string& id, const std::string& model, std::int64_t created,
                              const GenerationResult& result) {
    const int prompt = result.timings.prompt_tokens, completion = result.timings.new_tokens;
    return {{"id", id},
            {"object", "chat.completion"},
            {"created", created},
            {"model", model},
            {"choices",
             {{{"index", 0},
               {"message", {{"role", "assistant"}, {"content", result.text}}},
               {"finish_reason", finishReason(result.stop)}}}},
            {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}}}};
}

nlohmann::json chunkBody(const std::string& id, const std::string& model, std::int64_t created,
                         const nlohmann::json& delta, const std::string& finish_reason,
                         const std::vector<HeatmapGrid>* attention) {
    nlohmann::json chunk = {{"id", id},
                            {"object", "chat.completion.chunk"},
                            {"created", created},
                            {"model", model},
                            {"choices",
                             {{{"index", 0},
                               {"delta", delta},
                               {"finish_reason", finish_reason.empty() ? nlohmann::json() : nlohmann::json(finish_reason)}}}}};
    if (attention)
        chunk["vqa"] = {{"attention", gridsJson(*attention)}};
    return chunk;
}

nlohmann::json gridsJson(const std::vector<HeatmapGrid>& grids) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& g : grids)
        out.push_back({{"rows", g.rows},
                       {"cols", g.cols},
                       {"x", g.x},
                       {"y", g.y},
                       {"width", g.width},
                       {"height", g.height},
                       {"global_view", g.global_view},
                       {"values", g.values}});
    return out;
}

namespace {

// A grid's row or column count, read without converting a number that does not fit an int
// (a server may send 1e30 or 2.5; converting those is undefined, not an error).
int gridSide(const nlohmann::json& v) {
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0 || v.get<std::int64_t>() > 4096 ||
        (v.is_number_unsigned() && v.get<std::uint64_t>() > 4096))
        throw Error("an attention grid whose side is " + v.dump() + " (it must be a whole number from 1 to 4096)");
    return static_cast<int>(v.get<std::int64_t>());
}

}  // namespace

std::vector<HeatmapGrid> gridsFromJson(const nlohmann::json& j) {
    std::vector<HeatmapGrid> grids;
    if (!j.is_array())
        throw Error("attention grids must be an array");
    try {
        for (const auto& g : j) {
            HeatmapGrid grid;
            grid.rows = gridSide(g.at("rows"));
            grid.cols = gridSide(g.at("cols"));
            grid.x = g.at("x").get<double>();
            grid.y = g.at("y").get<double>();
            grid.width = g.at("width").get<double>();
            grid.height = g.at("height").get<double>();
            grid.global_view = g.contains("global_view") && g["global_view"].is_boolean() && g["global_view"].get<bool>();
            if (grid.rows <= 0 || grid.cols <= 0 || grid.rows > 4096 || grid.cols > 4096)
                throw Error("an attention grid of " + std::to_string(grid.rows) + "x" + std::to_string(grid.cols));
            grid.values = g.at("values").get<std::vector<float>>();
            if (grid.values.size() != static_cast<std::size_t>(grid.rows) * grid.cols)
                throw Error("an attention grid whose values do not fill its rows and columns");
            grids.push_back(std::move(grid));
        }
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("a malformed attention grid (") + e.what() + ")");
    }
    return grids;
}

}  // namespace vqa::serve
