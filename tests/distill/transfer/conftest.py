"""Short Chinese reviews written for these tests, and a tiny BERT masked-LM built here, never downloaded."""
from __future__ import annotations

from pathlib import Path

import pytest

# Hotel, shop, book and food reviews, written for these tests (not taken from any dataset).
REVIEWS = [
    "这家酒店的房间很干净，服务员也非常热情。",
    "早餐种类太少了，味道也一般，不会再来。",
    "快递送得很快，包装完好，东西和图片一样。",
    "手机用了三天就死机，客服一直推脱责任。",
    "这本书写得很好，故事情节让人停不下来。",
    "衣服的质量不错，就是尺码偏小，建议买大一号。",
    "老板人很好，还送了我们一盘水果。",
    "房间隔音太差，晚上根本睡不着觉。",
    "价格便宜，性价比很高，推荐给朋友了。",
    "电池不耐用，充满电只能用半天。",
    "位置很方便，离地铁站只有五分钟。",
    "菜的分量很足，两个人吃得很饱。",
    "耳机音质清楚，戴着也很舒服。",
    "屏幕有一块坏点，联系卖家换货很麻烦。",
    "这部电影太无聊了，看了一半就走了。",
    "前台办理入住很慢，等了快一个小时。",
    "鞋子穿着很轻，走路一点都不累。",
    "水果不新鲜，有几个已经烂了。",
    "孩子很喜欢这个玩具，每天都要玩。",
    "空调声音很大，吹出来的风还有味道。",
    "作者的观点很新颖，值得反复阅读。",
    "外卖送到的时候汤都洒了，很失望。",
    "床单很旧，卫生间也有点脏。",
    "包包的做工精细，颜色比想象中好看。",
    "客服态度很好，耐心解答了我的问题。",
    "游泳池很小，而且水不太干净。",
    "这款洗发水味道好闻，洗完头发很顺。",
    "物流太慢了，一个星期才收到。",
    "餐厅环境优雅，适合和家人一起来。",
    "键盘手感不错，打字的声音也不大。",
    "翻译得很生硬，很多句子读不通。",
    "酒店的早餐很丰富，中式西式都有。",
    "充电器用了一个月就坏了，质量太差。",
    "风景非常美，拍出来的照片都很好看。",
    "服务员态度冷淡，叫了几次都没人理。",
    "蛋糕很新鲜，甜而不腻，下次还会买。",
    "裤子洗了一次就掉色，非常不满意。",
    "这台电脑运行很快，玩游戏也不卡。",
    "停车很不方便，附近找不到车位。",
    "老师讲得很清楚，课程内容也很实用。",
]


def distinct_reviews() -> list[str]:
    assert len(set(REVIEWS)) == len(REVIEWS)
    return list(REVIEWS)


@pytest.fixture(scope="session")
def tiny_mlm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 32-wide BertForMaskedLM over the reviews' characters (and a few hundred more), saved."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from distill.teachers import build_vocab_tokenizer

    folder = tmp_path_factory.mktemp("tiny-mlm")
    more_chars = "".join(chr(code) for code in range(0x4E00, 0x4E00 + 300))  # so a draw has many to choose from
    tokenizer = build_vocab_tokenizer([*REVIEWS, more_chars], folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder
