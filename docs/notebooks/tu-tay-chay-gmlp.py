# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tự tay chạy gMLP
#
# Đọc xong bài [Paper Explained 2](../../posts/2024/02/blog-post-2/) rồi thì mình cùng
# chạy thử luôn nha. Trong notebook này mình sẽ dựng một mô hình gMLP tí hon từ package
# `gmlp_snippets` (đúng những đoạn code trong bài), huấn luyện nó vài giây trên CPU với
# sáu câu đầu của Truyện Kiều, cho nó "làm thơ", rồi nhìn thử một ma trận spatial $W$ mà
# nó học được.
#
# Nhắc lại công thức chính: mỗi khối gMLP tính $Z = \sigma(XU)$, rồi Spatial Gating Unit
# $s(Z) = Z_1 \odot f_{W,b}(Z_2)$ với $f_{W,b}(Z_2) = W Z_2 + b$, cuối cùng là
# $Y = s(Z)V$ cộng với residual.
#
# Muốn chạy ở máy mình: tải file `.ipynb` ở đầu trang này về, rồi cài package theo hướng
# dẫn ở cuối bài Paper Explained 2 (hoặc đặt file `gmlp.py` của blog cạnh notebook, chỉ
# cần `torch`, và đổi `from gmlp_snippets import` thành `from gmlp import`).

# %%
import time

import matplotlib.pyplot as plt
import torch

from gmlp_snippets import GMLPConfig, GMLPForCausalLM

torch.manual_seed(0)
# one thread: as fast as two on a small model, and never fights other work
torch.set_num_threads(1)

# %% [markdown]
# ## Dữ liệu: sáu câu Kiều, từng byte một
#
# Để khỏi cần tokenizer, mình coi mỗi byte UTF-8 là một token (vocab 256). Tiếng Việt có
# dấu nên một chữ như "ă" chiếm hai byte; mô hình phải tự học cả chuyện ghép byte nữa.

# %%
text = """Trăm năm trong cõi người ta,
Chữ tài chữ mệnh khéo là ghét nhau.
Trải qua một cuộc bể dâu,
Những điều trông thấy mà đau đớn lòng.
Lạ gì bỉ sắc tư phong,
Trời xanh quen thói má hồng đánh ghen.
"""
data = torch.tensor(list(text.encode("utf-8")))
print(f"{len(text)} ký tự -> {len(data)} byte")

# %% [markdown]
# ## Mô hình tí hon
#
# Preset `tiny`: $d = 64$, $d_{ffn} = 256$, $L = 4$ khối, $n = 64$ token, causal (token
# $i$ chỉ nhìn các token $\le i$).

# %%
cfg = GMLPConfig.from_preset("tiny")
model = GMLPForCausalLM(cfg)
print(cfg)
print(f"{sum(p.numel() for p in model.parameters()):,} tham số")


# %%
def batch(size: int = 16) -> torch.Tensor:
    """size random windows of n + 1 bytes: the model reads n of them and predicts the
    next ones."""
    starts = torch.randint(0, len(data) - cfg.seq_len - 1, (size,))
    return torch.stack([data[s : s + cfg.seq_len + 1] for s in starts])


optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
start, losses = time.perf_counter(), []
for _ in range(200):
    loss = model.loss(batch())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(
    f"loss: {losses[0]:.2f} -> {losses[-1]:.3f} sau {len(losses)} bước, "
    f"{time.perf_counter() - start:.1f} giây"
)

# %% [markdown]
# ## Cho mô hình "làm thơ"
#
# Mồi cho nó hai chữ đầu rồi để nó tự viết tiếp. Với dữ liệu bé xíu thế này thì nó chủ
# yếu là... học thuộc lòng, nhưng vậy cũng đủ thấy SGU truyền được thông tin giữa các
# token mà không cần attention.

# %%
model.eval()
prompt = torch.tensor([list("Trăm năm".encode())])
out = model.generate(
    prompt,
    max_new_tokens=120,
    temperature=0.5,
    generator=torch.Generator().manual_seed(0),
)
print(bytes(out[0].tolist()).decode("utf-8", errors="replace"))

# %% [markdown]
# ## Nhìn vào một ma trận W
#
# Hàng $i$ của $W$ cho biết token $i$ "đọc" các token $j \le i$ như thế nào. Lúc khởi
# tạo $W \approx 0$ (cổng $\approx 1$); sau khi huấn luyện, các trọng số lớn thường nằm
# sát đường chéo: token chủ yếu nhìn vài token ngay trước nó.

# %%
w = model.gmlp.blocks[0].sgu.weight.detach().tril()
fig, ax = plt.subplots(figsize=(4.5, 4))
im = ax.imshow(w, cmap="RdBu_r", vmin=-w.abs().max(), vmax=w.abs().max())
ax.set_xlabel("token j (được đọc)")
ax.set_ylabel("token i (đang đọc)")
ax.set_title("W của khối 1 sau khi huấn luyện")
fig.colorbar(im, ax=ax)
plt.show()
