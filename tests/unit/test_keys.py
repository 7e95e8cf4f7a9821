from enishi import keys


def test_the_win_back_index_sort_key_gives_back_the_order_id():
    for order_id in ("5800000000001", "gid#shopify#Order#1"):
        assert keys.order_id_from_orders_by_day_sk(keys.orders_by_day_sk(order_id)) == order_id
