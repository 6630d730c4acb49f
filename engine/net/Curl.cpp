#include "engine/net/Curl.h"

#include <mutex>

#include "models/base/Error.h"

namespace vqa::net {

void curlGlobalInit() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlPtr newCurlHandle() {
    curlGlobalInit();
    CurlPtr c(curl_easy_init());
    if (!c)
        throw Error("libcurl could not start (out of memory?)");
    return c;
}

std::string curlMessage(CURLcode code, const char* errbuf) {
    return errbuf && *errbuf ? std::string(errbuf) : std::string(curl_easy_strerror(code));
}

bool isUnreachable(CURLcode code) {
    return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
           code == CURLE_COULDNT_CONNECT;
}

bool isTransient(CURLcode code) {
    return code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR ||
           code == CURLE_GOT_NOTHING || code == CURLE_OPERATION_TIMEDOUT || code == CURLE_HTTP2 ||
           code == CURLE_HTTP2_STREAM || code == CURLE_SSL_CONNECT_ERROR || isUnreachable(code);
}

std::size_t appendToString(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

}  // namespace vqa::net
